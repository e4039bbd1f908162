"""The pipeline API: what a user writes to plug their own records and routes into the processor.

A pipeline names a pydantic model for the input and a ``route`` function that turns one validated
record into exactly one outcome: an :class:`Output`, a :class:`Reject` (a dead letter with a reason)
or a :class:`Drop` (counted, then forgotten). A :class:`BatchPipeline` has ``route_many`` instead,
for one bulk call per batch. The ``executor`` says where the route runs.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, Protocol, TypeAlias, TypeVar, cast

from pydantic import BaseModel

# Kafka allows a header without a value: other producers write them, so values may be None.
Headers: TypeAlias = tuple[tuple[str, bytes | None], ...]
# A load error is one line: what user code raised may hold newlines, or a whole file.
MAX_REASON_CHARS = 200


# Source and Output are made once per record: named tuples are immutable and about three
# times quicker to build than frozen dataclasses.
class Source(NamedTuple):
    """Where the record being routed came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Headers
    timestamp_ms: int


class Output(NamedTuple):
    """Write ``value`` to ``topic``. ``event_id`` becomes the ``event-id`` header.

    ``value`` may be bytes, a ``str`` (written as UTF-8) or a pydantic model (written as its JSON);
    ``key`` bytes or a ``str``.
    """

    topic: str
    value: bytes | str | BaseModel | None
    key: bytes | str | None = None
    headers: Headers = ()
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """Send the original record to the dead-letter topic at stage ``route``."""

    reason: str
    error_class: str = "Rejected"


@dataclass(frozen=True, slots=True)
class Drop:
    """Skip the record on purpose; it is counted and its offset committed."""

    reason: str


Outcome: TypeAlias = Output | Reject | Drop


# Where ``route`` runs: on the event loop (async routes, and sync ones cheap enough to run inline),
# in a thread pool (sync routes that block: drivers, file or network I/O) or in a process pool
# (sync routes heavy on CPU).
Executor: TypeAlias = Literal["loop", "thread", "process"]
EXECUTORS: tuple[Executor, ...] = ("loop", "thread", "process")

ModelT = TypeVar("ModelT", bound=BaseModel)


class PipelineLike(Protocol):
    """What the processor and its commands rely on in any pipeline; the rest is checked at load
    (:func:`check_pipeline`) and read with defaults."""

    @property
    def model(self) -> type[BaseModel]: ...

    def output_topics(self, input_topic: str) -> Sequence[str]: ...


class _Base(Generic[ModelT]):
    model: type[ModelT]
    """The pydantic model every input value is validated against (as JSON)."""

    executor: Executor = "loop"

    def output_topics(self, input_topic: str) -> Sequence[str]:
        """The topics the route may write to, so they can be created and checked up front."""
        raise NotImplementedError

    def output_models(self, input_topic: str) -> Mapping[str, type[BaseModel]]:
        """The model of each output topic's values, by topic, where there is one: ``processor
        archive`` gives those topics typed columns. Optional."""
        return {}

    async def start(self) -> None:
        """Called once per process before the first record: open pools, sessions, clients."""

    async def close(self) -> None:
        """Called once per process after the last record: close what ``start`` opened."""


class Pipeline(_Base[ModelT]):
    """What ``PROCESSOR_PIPELINE=package.module:attribute`` names: one record, one outcome.

    Subclass it (``class Orders(Pipeline[Order])``) to have ``route`` type-checked against the
    model, sync or async, and to inherit the defaults. Any object with ``model``,
    ``output_topics`` and ``route`` works too.
    """

    def route(self, record: ModelT, source: Source) -> Outcome | Awaitable[Outcome]:
        """Decide the one outcome of a validated record; may be ``async``."""
        raise NotImplementedError


class BatchPipeline(_Base[ModelT]):
    """A pipeline that routes records in batches: one bulk call for many records."""

    def route_many(
        self, records: Sequence[ModelT], sources: Sequence[Source]
    ) -> Sequence[Outcome] | Awaitable[Sequence[Outcome]]:
        """One outcome per record, in their order; may be ``async``. Records of one key come in
        input order, and never in two batches at once."""
        raise NotImplementedError


class PipelineLoadError(ValueError):
    """``PROCESSOR_PIPELINE`` does not name a usable pipeline."""


def load_pipeline(spec: str, settings: object = None) -> PipelineLike:
    """Import ``package.module:attribute``. A class or factory is called once: with the settings
    when it takes an argument, else with none."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise PipelineLoadError(f"expected 'package.module:attribute', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PipelineLoadError(f"cannot import module {module_name!r}: {exc}") from exc
    except Exception as exc:  # user code: whatever it raises at import is a load error
        raise PipelineLoadError(
            f"module {module_name!r} raised at import: {_one_line(exc)}"
        ) from exc
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise PipelineLoadError(f"module {module_name!r} has no attribute {attribute!r}") from None
    # A class (even one whose attributes satisfy the shape) or a factory is called once.
    is_factory = isinstance(found, type) or (callable(found) and not _has_shape(found))
    candidate = _call_factory(found, spec, settings) if is_factory else found
    check_pipeline(candidate, spec)
    return cast(PipelineLike, candidate)


def check_pipeline(candidate: object, name: str) -> None:
    """Raise :class:`PipelineLoadError`, one line naming ``name``, unless ``candidate`` is a
    usable pipeline."""
    if not _has_shape(candidate):
        raise PipelineLoadError(
            f"{name!r} is not a pipeline (needs model, output_topics, and route or route_many)"
        )
    model = getattr(candidate, "model")  # noqa: B009  (checked by _has_shape)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise PipelineLoadError(f"{name!r}: model must be a pydantic BaseModel subclass")
    executor = executor_of(candidate)
    if executor not in EXECUTORS:
        raise PipelineLoadError(
            f"{name!r}: executor must be one of {', '.join(EXECUTORS)}, not {executor!r}"
        )
    call = route_call(candidate)
    if executor != "loop" and inspect.iscoroutinefunction(call):
        raise PipelineLoadError(
            f"{name!r}: executor {executor!r} runs a plain function; an async "
            f"{call.__name__} already runs on the event loop (use executor 'loop')"
        )
    for hook in ("start", "close"):
        found = getattr(candidate, hook, None)
        if found is not None and not inspect.iscoroutinefunction(found):
            raise PipelineLoadError(f"{name!r}: {hook} must be an async method")


def output_models_of(pipeline: object, input_topic: str) -> dict[str, type[BaseModel]]:
    """The pipeline's output models by topic; none when it names none (any object works)."""
    method = getattr(pipeline, "output_models", None)
    if not callable(method):
        return {}
    found = method(input_topic)
    return {
        str(topic): model
        for topic, model in dict(found).items()
        if isinstance(model, type) and issubclass(model, BaseModel)
    }


def executor_of(pipeline: object) -> str:
    return cast(str, getattr(pipeline, "executor", "loop"))


def is_batch(pipeline: object) -> bool:
    """True when the pipeline routes in batches (it has its own ``route_many``)."""
    return _defines(pipeline, "route_many")


def _defines(pipeline: object, method: str) -> bool:
    """``pipeline`` has ``method``, and not only the base classes' placeholder."""
    found = getattr(type(pipeline), method, None) or getattr(pipeline, method, None)
    placeholder = Pipeline.route if method == "route" else BatchPipeline.route_many
    return callable(found) and found is not placeholder


def route_call(pipeline: object) -> Callable[..., Any]:
    """``route_many`` for a batch pipeline, else ``route``."""
    return cast(
        Callable[..., Any], getattr(pipeline, "route_many" if is_batch(pipeline) else "route")
    )


def _has_shape(candidate: object) -> bool:
    if isinstance(candidate, type):
        return False
    routes = _defines(candidate, "route") or is_batch(candidate)
    return (
        hasattr(candidate, "model")
        and callable(getattr(candidate, "output_topics", None))
        and routes
    )


def _call_factory(factory: Callable[..., object], spec: str, settings: object) -> object:
    # Only a class or a function written in Python is a factory: ``os:system`` and other
    # builtins are never called with the settings.
    if not (isinstance(factory, type) or inspect.isfunction(factory)):
        raise PipelineLoadError(
            f"{spec!r} is not a pipeline (needs model, output_topics, and route or route_many),"
            " a pipeline class or a factory function"
        )
    try:
        takes_settings = bool(_required_parameters(factory))
    except (TypeError, ValueError):  # no signature to read (a builtin): call it plainly
        takes_settings = False
    if takes_settings and settings is None:
        raise PipelineLoadError(f"{spec!r} takes the settings, and none were given")
    try:
        return factory(settings) if takes_settings else factory()
    except Exception as exc:  # user code
        raise PipelineLoadError(f"{spec!r} raised when called: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _required_parameters(factory: Callable[..., object]) -> list[inspect.Parameter]:
    return [
        parameter
        for parameter in inspect.signature(factory).parameters.values()
        if parameter.default is parameter.empty
        and parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]
