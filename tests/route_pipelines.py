"""Pipelines for the executor tests that run in a process pool.

A process pool starts its workers with ``spawn`` and sends them the pipeline pickled, so these
live at module level where a worker can import them.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from processor.pipeline import BatchPipeline, Drop, Outcome, Output, Pipeline, Reject, Source

WORKER_PID_HEADER = "worker-pid"


class Reading(BaseModel):
    sensor: str
    value: float


def _worker_pid() -> tuple[tuple[str, bytes | None], ...]:
    return ((WORKER_PID_HEADER, str(os.getpid()).encode()),)


def _checksum(sensor: str, rounds: int) -> str:
    """Some CPU work, the kind a process pool is for."""
    digest = sensor.encode()
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:16]


class Judge(Pipeline[Reading]):
    """One reading, one outcome of each kind: doubled and written, rejected, or dropped."""

    model = Reading
    executor = "process"

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return (self.topic,)

    def route(self, record: Reading, source: Source) -> Outcome:
        if record.value < 0:
            return Reject(f"negative reading from {record.sensor}", error_class="Negative")
        if record.value == 0:
            return Drop("zero reading")
        doubled = record.model_copy(update={"value": record.value * 2})
        return Output(self.topic, doubled, key=source.key, headers=_worker_pid())


class Checksums(BatchPipeline[Reading]):
    """A batch at a time: one output per reading, carrying a checksum of its sensor."""

    model = Reading
    executor = "process"

    def __init__(self, topic: str, rounds: int) -> None:
        self.topic = topic
        self.rounds = rounds

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return (self.topic,)

    def route_many(self, records: Sequence[Reading], sources: Sequence[Source]) -> list[Outcome]:
        return [
            Output(
                self.topic,
                _checksum(record.sensor, self.rounds),
                key=source.key,
                headers=_worker_pid(),
            )
            for record, source in zip(records, sources, strict=True)
        ]


class Locked(Pipeline[Reading]):
    """Holds a lock, which does not pickle."""

    model = Reading
    executor = "process"

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ()

    def route(self, record: Reading, source: Source) -> Outcome:
        return Drop("never called")


class WithLambda(Pipeline[Reading]):
    """Holds a lambda, which does not pickle."""

    model = Reading
    executor = "process"

    def __init__(self) -> None:
        self.scale: Callable[[float], float] = lambda value: value * 2

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ()

    def route(self, record: Reading, source: Source) -> Outcome:
        return Drop("never called")


def _unimportable_model() -> type[BaseModel]:
    class Hidden(BaseModel):
        value: float

    return Hidden


class HiddenModel(Pipeline[BaseModel]):
    """Pickles, but its model is local to a function: a worker could not import its records."""

    model = _unimportable_model()
    executor = "process"

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ()

    def route(self, record: BaseModel, source: Source) -> Outcome:
        return Drop("never called")


class Crashing(Pipeline[Reading]):
    """Its worker process exits in the middle of a route for a negative reading, as one killed
    by the kernel would; other readings are dropped."""

    model = Reading
    executor = "process"

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ()

    def route(self, record: Reading, source: Source) -> Outcome:
        if record.value < 0:
            os._exit(3)
        return Drop(f"pid {os.getpid()}")


def _rebuild_homesick(home_pid: int) -> HomeSick:
    if os.getpid() != home_pid:
        raise RuntimeError("this pipeline only loads in the process that made it")
    return HomeSick()


class HomeSick(Pipeline[Reading]):
    """Pickles, but cannot be loaded in a worker process (as a pipeline whose module only
    imports in the parent's environment)."""

    model = Reading
    executor = "process"

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return ()

    def route(self, record: Reading, source: Source) -> Outcome:
        return Drop("never")

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return (_rebuild_homesick, (os.getpid(),))
