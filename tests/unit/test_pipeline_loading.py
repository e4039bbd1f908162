"""load_pipeline: ``package.module:attribute`` names an instance, a class or a factory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import BaseModel

from processor.commands.common import settings_from
from processor.config import Settings
from processor.pipeline import (
    BatchPipeline,
    Drop,
    Outcome,
    Output,
    Pipeline,
    PipelineLoadError,
    Reject,
    Source,
    executor_of,
    is_batch,
    load_pipeline,
)
from processor.pipelines.transactions import Transaction, TransactionsPipeline
from processor.pipelines.transactions import pipeline as builtin_pipeline

BUILTIN = "processor.pipelines.transactions:pipeline"
HERE = __name__  # this module is importable under this name while the tests run


class Event(BaseModel):
    kind: str


class EventPipeline:
    """A small valid pipeline: keeps "good" events, rejects "bad" ones, drops the rest."""

    model = Event

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return (f"{input_topic}.out",)

    def route(self, record: Event, source: Source) -> Output | Reject | Drop:
        if record.kind == "good":
            return Output(f"{source.topic}.out", record.model_dump_json().encode())
        if record.kind == "bad":
            return Reject("bad kind")
        return Drop("not interesting")


event_pipeline = EventPipeline()


def make_event_pipeline() -> EventPipeline:
    return EventPipeline()


class WithoutRoute:
    model = Event

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ()


class WithoutModel:
    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ()

    def route(self, record: object, source: Source) -> Drop:
        return Drop("x")


class NotPydanticModel(EventPipeline):
    model = dict  # type: ignore[assignment]


without_route = WithoutRoute()
without_model = WithoutModel()
not_pydantic_model = NotPydanticModel()
not_a_pipeline = 42


def make_nothing() -> None:
    return None


def load_error(spec: str) -> str:
    with pytest.raises(PipelineLoadError) as caught:
        load_pipeline(spec)
    return str(caught.value)


def test_the_builtin_spec_loads_the_transactions_pipeline() -> None:
    loaded = load_pipeline(BUILTIN)
    assert loaded is builtin_pipeline
    assert loaded.model is Transaction


def test_an_instance_loads_as_itself() -> None:
    assert load_pipeline(f"{HERE}:event_pipeline") is event_pipeline


def test_a_factory_is_called_with_no_arguments() -> None:
    loaded = load_pipeline(f"{HERE}:make_event_pipeline")
    assert isinstance(loaded, EventPipeline)
    assert loaded is not event_pipeline


@pytest.mark.parametrize(
    "spec", [f"{HERE}:EventPipeline", "processor.pipelines.transactions:TransactionsPipeline"]
)
def test_a_class_is_instantiated_with_no_arguments(spec: str) -> None:
    loaded = load_pipeline(spec)
    assert not isinstance(loaded, type)
    assert isinstance(loaded, EventPipeline | TransactionsPipeline)
    assert loaded.output_topics("in")


class TypedPipeline(Pipeline[Event]):
    """Typed by subclassing: route takes the model, and the defaults come along."""

    model = Event

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ("out",)

    async def route(self, record: Event, source: Source) -> Output:
        return Output("out", record.kind)


class BulkPipeline(BatchPipeline[Event]):
    model = Event
    executor = "thread"

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ("out",)

    def route_many(self, records: Sequence[Event], sources: Sequence[Source]) -> list[Outcome]:
        return [Drop(record.kind) for record in records]


class RouteForgotten(Pipeline[Event]):
    model = Event

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ("out",)


class UnknownExecutor(EventPipeline):
    executor = "gpu"


class AsyncInThreads(TypedPipeline):
    executor = "thread"  # an async route already runs on the loop


class PlainStartHook(EventPipeline):
    def start(self) -> None:  # not async
        pass


def make_from_settings(settings: Settings) -> EventPipeline:
    made = EventPipeline()
    made.input_topic = settings.input_topic  # type: ignore[attr-defined]
    return made


typed_pipeline = TypedPipeline()
bulk_pipeline = BulkPipeline()
route_forgotten = RouteForgotten()
unknown_executor = UnknownExecutor()
async_in_threads = AsyncInThreads()
plain_start_hook = PlainStartHook()


def test_a_subclass_of_pipeline_loads_with_its_defaults() -> None:
    loaded = load_pipeline(f"{HERE}:typed_pipeline")
    assert loaded is typed_pipeline
    assert (executor_of(loaded), is_batch(loaded)) == ("loop", False)


def test_a_batch_pipeline_loads_and_routes_in_batches_in_its_executor() -> None:
    loaded = load_pipeline(f"{HERE}:bulk_pipeline")
    assert (executor_of(loaded), is_batch(loaded)) == ("thread", True)


def test_a_factory_that_takes_an_argument_is_given_the_settings() -> None:
    settings = Settings(input_topic="orders")
    loaded = load_pipeline(f"{HERE}:make_from_settings", settings)
    assert loaded.input_topic == "orders"  # type: ignore[attr-defined]


def test_a_factory_that_takes_the_settings_needs_them() -> None:
    assert "takes the settings" in load_error(f"{HERE}:make_from_settings")


@pytest.mark.parametrize(
    ("attribute", "said"),
    [
        ("route_forgotten", "is not a pipeline (needs model, output_topics, and route or"),
        ("unknown_executor", "executor must be one of loop, thread, process, not 'gpu'"),
        ("async_in_threads", "executor 'thread' runs a plain function; an async route"),
        ("plain_start_hook", "start must be an async method"),
    ],
)
def test_a_pipeline_that_cannot_run_is_refused_in_one_line_naming_why(
    attribute: str, said: str
) -> None:
    message = load_error(f"{HERE}:{attribute}")
    assert said in message
    assert attribute in message
    assert "\n" not in message


def test_a_loaded_pipeline_routes_records() -> None:
    loaded = load_pipeline(f"{HERE}:event_pipeline")
    assert isinstance(loaded, EventPipeline)
    source = Source("events", 0, 0, None, (), 0)
    assert isinstance(loaded.route(Event(kind="good"), source), Output)
    assert isinstance(loaded.route(Event(kind="bad"), source), Reject)
    assert isinstance(loaded.route(Event(kind="meh"), source), Drop)


@pytest.mark.parametrize("spec", ["processor.pipelines.transactions", "", ":pipeline", "module:"])
def test_a_spec_without_module_and_attribute_is_refused(spec: str) -> None:
    assert "package.module:attribute" in load_error(spec)


def test_a_missing_module_is_refused_naming_it() -> None:
    message = load_error("no_such_package.pipelines:pipeline")
    assert "cannot import module 'no_such_package.pipelines'" in message


def test_a_missing_attribute_is_refused_naming_it() -> None:
    message = load_error("processor.pipelines.transactions:no_such_pipeline")
    assert "'processor.pipelines.transactions'" in message
    assert "no attribute 'no_such_pipeline'" in message


@pytest.mark.parametrize(
    "attribute",
    ["without_route", "WithoutRoute", "without_model", "not_a_pipeline", "make_nothing"],
)
def test_an_object_that_is_not_a_pipeline_is_refused(attribute: str) -> None:
    message = load_error(f"{HERE}:{attribute}")
    assert "is not a pipeline" in message
    assert attribute in message


def test_a_model_that_is_not_a_pydantic_model_is_refused() -> None:
    assert "model must be a pydantic BaseModel subclass" in load_error(f"{HERE}:not_pydantic_model")


def test_a_load_error_is_a_value_error() -> None:
    assert issubclass(PipelineLoadError, ValueError)


LOCAL_MODULE = """
from pydantic import BaseModel
from processor.pipeline import Drop, Source


class Event(BaseModel):
    kind: str


class Events:
    model = Event

    def output_topics(self, input_topic: str) -> list[str]:
        return ["out"]

    def route(self, record: Event, source: Source) -> Drop:
        return Drop("seen")


pipeline = Events()
"""


def test_the_command_line_finds_a_pipeline_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "localapp").mkdir()
    (tmp_path / "localapp" / "__init__.py").write_text("")
    (tmp_path / "localapp" / "events.py").write_text(LOCAL_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    args = argparse.Namespace(setting_pipeline="localapp.events:pipeline")
    try:
        _, loaded = settings_from(args)
    finally:
        sys.modules.pop("localapp.events", None)
        sys.modules.pop("localapp", None)
    assert loaded.output_topics("in") == ["out"]
