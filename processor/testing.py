"""Run a pipeline on given records in-process, with no broker: for a pipeline's own unit tests.

It runs the processor's own handling, not a copy of it: decoding and validation, the route in
its executor (threads and processes included), the checks of what the route returns, retries,
time limits and dead letters with every header, in the order the processor keeps per key. Only
the broker is left out: every write counts as acknowledged at once.

    from processor.testing import run_pipeline

    result = run_pipeline(OrdersPipeline(), [b'{"order_id": "o1", ...}'])
    assert result.outputs[0].topic == "orders.eu"
    assert result.dead_letters == []

``await run_pipeline_async(...)`` does the same inside a running event loop (pytest-asyncio).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from processor import headers as h
from processor.config import Settings
from processor.engine.emit import Backoff
from processor.engine.executors import RouteRunner
from processor.engine.flow import FlowControl
from processor.engine.guard import DeadLetterGuard
from processor.engine.handle import RecordHandler
from processor.engine.inflight import InFlight, take_in
from processor.engine.offsets import OffsetTracker
from processor.engine.scheduler import Scheduler
from processor.engine.stats import Stats
from processor.pipeline import Headers, PipelineLike, check_pipeline, is_batch

__all__ = ["Record", "Result", "Written", "run_pipeline", "run_pipeline_async"]

INPUT_TOPIC = "input"
GROUP_ID = "processor-testing"
MAX_RECORD_BYTES = 1024 * 1024 - 1024


@dataclass(frozen=True, slots=True)
class Record:
    """An input record: what a producer wrote (a bare ``bytes`` value is one too)."""

    value: bytes | None
    key: bytes | None = None
    headers: Headers = ()
    partition: int = 0
    timestamp_ms: int = 0


@dataclass(frozen=True, slots=True)
class Written:
    """A record the processor wrote: an output, or a dead letter."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers

    def header(self, name: str) -> str | None:
        """The last header called ``name``, as text (None if absent or null)."""
        for found, data in reversed(self.headers):
            if found == name:
                return None if data is None else data.decode("utf-8", "replace")
        return None

    # What a dead letter says about its failure.
    @property
    def stage(self) -> str | None:
        return self.header(h.DLQ_STAGE)

    @property
    def error_class(self) -> str | None:
        return self.header(h.DLQ_CLASS)

    @property
    def message(self) -> str | None:
        return self.header(h.DLQ_MESSAGE)


@dataclass(slots=True)
class Result:
    outputs: list[Written] = field(default_factory=list)
    dead_letters: list[Written] = field(default_factory=list)
    dropped: int = 0
    halted: str | None = None  # the dead-letter flood guard stopped the run


def run_pipeline(
    pipeline: PipelineLike,
    records: Iterable[bytes | Record],
    settings: Settings | None = None,
) -> Result:
    """Run ``pipeline`` on ``records`` (offsets 0, 1, ... per partition) and collect what it
    writes. ``settings`` (default: the defaults, input topic ``input``) give the limits."""
    return asyncio.run(run_pipeline_async(pipeline, records, settings))


async def run_pipeline_async(
    pipeline: PipelineLike,
    records: Iterable[bytes | Record],
    settings: Settings | None = None,
) -> Result:
    """:func:`run_pipeline` inside a running event loop."""
    check_pipeline(pipeline, type(pipeline).__name__)
    s = settings or Settings(input_topic=INPUT_TOPIC, group_id=GROUP_ID)
    run = _Run(pipeline, s)
    await run.runner.start(s.startup_timeout_s)
    try:
        await run.handle([_as_record(record) for record in records])
    finally:
        await run.runner.close(timeout_s=5.0)
    return run.result


def _as_record(record: bytes | Record) -> Record:
    return record if isinstance(record, Record) else Record(record)


class _Capture:
    """Stands in for the emitter: a write is acknowledged as soon as it is submitted."""

    max_record_bytes = MAX_RECORD_BYTES

    def __init__(
        self,
        dead_letter_topic: str,
        result: Result,
        acknowledged: Callable[[Sequence[InFlight]], None],
    ) -> None:
        self._dead_letter_topic = dead_letter_topic
        self._result = result
        self._acknowledged = acknowledged

    def submit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        token: InFlight,
        timestamp_ms: int | None = None,
    ) -> None:
        written = Written(topic, key, value, tuple(headers))
        if topic == self._dead_letter_topic:
            self._result.dead_letters.append(written)
        else:
            self._result.outputs.append(written)
        self._acknowledged((token,))


@dataclass
class _Run:
    pipeline: PipelineLike
    settings: Settings
    result: Result = field(default_factory=Result)

    def __post_init__(self) -> None:
        s = self.settings
        self.stats = Stats()
        self.flow = FlowControl(max_records=10**9, max_bytes=2**62)
        self.done = self.expected = 0
        self.all_done = asyncio.Event()
        self.capture = _Capture(s.dead_letter_topic, self.result, self._finished)
        self.runner = RouteRunner(self.pipeline, s.route_timeout_s, s.executor_workers)
        self.handler = RecordHandler(
            model=self.pipeline.model,
            runner=self.runner,
            emitter=self.capture,
            guard=DeadLetterGuard(s.dlq_window, s.dlq_max_ratio),
            stats=self.stats,
            dlq_topic=s.dead_letter_topic,
            output_topics=self.pipeline.output_topics(s.input_topic),
            group_id=s.group_id,
            max_attempts=s.handler_max_attempts,
            backoff=Backoff(min(s.retry_backoff_s, 0.01), min(s.retry_backoff_max_s, 0.05)),
            finish=lambda item: self._finished((item,)),
            halt=self._halt,
        )
        batches = is_batch(self.pipeline)
        self.scheduler = Scheduler(
            concurrency=s.concurrency,
            ordering=s.ordering,
            handle=self.handler.handle,
            contain=self.handler.contain,
            handle_batch=self.handler.handle_batch if batches else None,
            batch_max=s.batch_max_records if batches else 1,
            batch_wait_s=0.0,
        )

    async def handle(self, records: Sequence[Record]) -> None:
        trackers: dict[int, OffsetTracker] = {}
        items: list[InFlight] = []
        offsets: dict[int, int] = {}
        for record in records:
            offset = offsets.get(record.partition, 0)
            offsets[record.partition] = offset + 1
            tracker = trackers.setdefault(record.partition, OffsetTracker())
            taken, _ = take_in([_Consumed(self.settings.input_topic, offset, record)], tracker)
            items.extend(taken)
        self.expected = len(items)
        if not items:
            return
        self.scheduler.start()
        try:
            self.scheduler.put_many(items)
            await self.all_done.wait()
        finally:
            await self.scheduler.stop()
        self.result.dropped = self.stats.dropped

    def _finished(self, items: Sequence[InFlight]) -> None:
        self.done += len(items)
        if self.done >= self.expected:
            self.all_done.set()

    def _halt(self, reason: str) -> None:
        self.result.halted = reason
        self.all_done.set()


class _Consumed:
    """What the engine reads of a consumed record."""

    __slots__ = ("headers", "key", "offset", "partition", "timestamp", "topic", "value")

    def __init__(self, topic: str, offset: int, record: Record) -> None:
        self.topic = topic
        self.partition = record.partition
        self.offset = offset
        self.key = record.key
        self.value = record.value
        self.headers = record.headers
        self.timestamp = record.timestamp_ms
