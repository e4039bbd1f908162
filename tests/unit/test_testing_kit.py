"""processor.testing: a pipeline run in-process on given records gives what the processor writes."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence

from pydantic import BaseModel

from processor import headers as h
from processor.config import Settings
from processor.pipeline import BatchPipeline, Drop, Outcome, Output, Pipeline, Reject, Source
from processor.pipelines.transactions import pipeline as transactions
from processor.testing import Record, run_pipeline, run_pipeline_async

VALID = json.dumps(
    {"id": "t1", "account": "a1", "op": "add", "amount": "12.50", "currency": "EUR", "quantity": 2}
).encode()


class Step(BaseModel):
    key: str
    n: int


class Slow(Pipeline[Step]):
    """Async, with uneven delays: records finish out of order across keys."""

    model = Step

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ("steps",)

    async def route(self, record: Step, source: Source) -> Outcome:
        await asyncio.sleep(random.uniform(0, 0.003))
        if record.n < 0:
            return Reject("negative", error_class="Negative")
        if record.n == 0:
            return Drop("zero")
        return Output("steps", record, key=record.key)


class Blocking(Pipeline[Step]):
    model = Step
    executor = "thread"

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ("steps",)

    def route(self, record: Step, source: Source) -> Outcome:
        time.sleep(0.001)
        return Output("steps", f"{record.key}:{record.n}", key=record.key)


class Bulk(BatchPipeline[Step]):
    model = Step

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ("steps",)

    async def route_many(self, records: Sequence[Step], sources: Sequence[Source]) -> list[Outcome]:
        await asyncio.sleep(0.001)
        return [
            Output("steps", r, key=r.key) if r.n > 0 else Reject("not positive") for r in records
        ]


def steps(keys: int, per_key: int) -> list[Record]:
    return [
        Record(Step(key=f"k{k}", n=n).model_dump_json().encode(), key=f"k{k}".encode())
        for n in range(1, per_key + 1)
        for k in range(keys)
    ]


def order_by_key(written: Sequence[object]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for output in written:
        step = Step.model_validate_json(output.value)  # type: ignore[attr-defined]
        seen.setdefault(step.key, []).append(step.n)
    return seen


def test_the_built_in_pipeline_writes_its_output_with_the_processors_headers() -> None:
    result = run_pipeline(transactions, [VALID, b"not json", Record(None, key=b"k")])
    [output] = result.outputs
    assert output.topic == "input.additions"
    assert output.key == b"a1"
    assert output.header(h.EVENT_ID) == "t1"
    assert output.header(h.SOURCE) == "input/0/0"
    assert [(d.stage, d.error_class) for d in result.dead_letters] == [
        ("decode", "JSONDecodeError"),
        ("decode", "NullValue"),
    ]
    assert result.dead_letters[0].value == b"not json"
    assert result.dead_letters[1].header(h.DLQ_SOURCE_OFFSET) == "2"


def test_an_async_route_keeps_each_keys_order_while_keys_run_concurrently() -> None:
    result = run_pipeline(Slow(), steps(keys=20, per_key=15))
    assert order_by_key(result.outputs) == {f"k{k}": list(range(1, 16)) for k in range(20)}


def test_rejects_and_drops_are_dead_letters_and_counts() -> None:
    records = [Record(Step(key="k", n=n).model_dump_json().encode()) for n in (1, 0, -1)]
    result = run_pipeline(Slow(), records)
    assert len(result.outputs) == 1
    assert result.dropped == 1
    [dead] = result.dead_letters
    assert (dead.stage, dead.error_class, dead.message) == ("route", "Negative", "negative")


def test_a_blocking_route_runs_in_threads_with_text_values() -> None:
    result = run_pipeline(Blocking(), steps(keys=5, per_key=4))
    values = sorted(output.value or b"" for output in result.outputs)
    assert values == sorted(f"k{k}:{n}".encode() for k in range(5) for n in range(1, 5))


def test_a_batch_route_writes_one_outcome_per_record_in_order_per_key() -> None:
    settings = Settings(input_topic="input", batch_max_records=7)
    records = [*steps(keys=6, per_key=10), Record(Step(key="z", n=0).model_dump_json().encode())]
    result = run_pipeline(Bulk(), records, settings)
    assert order_by_key(result.outputs) == {f"k{k}": list(range(1, 11)) for k in range(6)}
    assert [d.message for d in result.dead_letters] == ["not positive"]


async def test_it_runs_inside_a_running_event_loop_too() -> None:
    result = await run_pipeline_async(Slow(), steps(keys=2, per_key=2))
    assert len(result.outputs) == 4
