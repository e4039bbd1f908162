"""The archiver's loop: poll, fill one open file per partition, seal, write off the loop, commit.

Polling and writing are two tasks. The poller takes records into each partition's open file and
seals it when :mod:`rolling` says so; the writer writes sealed files one at a time in a thread
and commits a file's offsets only once the file is renamed. Memory is bounded by pausing every
partition while the records held (open and sealed, not yet written) pass ``max_held_bytes``; if
nothing is being written then, the largest open file is sealed early, so the bound holds whatever
the limits. Rebalances go through :mod:`processor.archive.assignments`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    ConsumerStoppedError,
    GroupAuthorizationFailedError,
    IllegalStateError,
    KafkaError,
)

from processor.archive.assignments import Partition, Partitions
from processor.archive.layout import FileName, day_of
from processor.archive.plan import ArchiveError, ArchivePlan
from processor.archive.rolling import OpenFile, RollReason, belongs_to_next_file, full
from processor.archive.rolling import record_bytes as held_size
from processor.archive.view import ArchiveStats
from processor.archive.writer import SealedFile
from processor.archive.writing import FileWriter, Job
from processor.config import Settings, kafka_client_options
from processor.connect import start_client
from processor.engine.emit import Backoff
from processor.engine.positions import PartitionPosition
from processor.engine.rawread import read_partition_raw, undecodable
from processor.logs import ThrottledWarnings, get_logger
from processor.metadata import partitions_of
from processor.security.permissions import Need, PermissionMissing, group_refusal_line

log = get_logger("processor.archive")

# What a held record costs beyond its key, value and headers: the record object, its bytes
# objects and a list slot (about 310 bytes measured with tracemalloc on CPython 3.11).
RECORD_OVERHEAD_BYTES = 320

POLL_TIMEOUT_MS = 200
# While paused a poll only keeps the member alive: poll often, to resume soon after a write.
PAUSED_POLL_TIMEOUT_MS = 20
RESUME_RATIO = 0.5
TOPIC_POLL_S = 0.5
WARNING_INTERVAL_S = 30.0
FATAL = (ConsumerStoppedError, IllegalStateError)


class Archiver:
    """Archives ``plan.topics`` until stopped, or (``plan.once``) until it drained them."""

    def __init__(self, settings: Settings, plan: ArchivePlan) -> None:
        self.settings, self.plan = settings, plan
        self.stats = ArchiveStats()
        self.stopping = False
        self.paused = False
        self._fatal: ArchiveError | None = None
        self._backoff = Backoff(settings.retry_backoff_s, settings.retry_backoff_max_s)
        self._warnings = ThrottledWarnings(log, WARNING_INTERVAL_S)
        self._consumer = AIOKafkaConsumer(
            **kafka_client_options(settings),
            group_id=plan.group_id,
            enable_auto_commit=False,
            auto_offset_reset=settings.auto_offset_reset,
            isolation_level=settings.isolation_level,
            max_partition_fetch_bytes=settings.max_partition_fetch_bytes,
            fetch_max_bytes=settings.fetch_max_bytes,
            max_poll_interval_ms=settings.max_poll_interval_ms,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            group_instance_id=settings.group_instance_id,
        )
        self.partitions = Partitions(self._consumer, plan.store, self.stats, settings, self)
        self.files = FileWriter(plan, self.stats, self.partitions, self._backoff, self.fail)

    # The view (processor.archive.view.ArchiveView).
    @property
    def joined(self) -> bool:
        return self.partitions.joined

    @property
    def trouble(self) -> str | None:
        return self.files.trouble

    @property
    def held_records(self) -> int:
        return self.partitions.open_records + self.files.sealed_records

    @property
    def held_bytes(self) -> int:
        """The records' bytes plus what Python spends on each record object while it is held."""
        payload = self.partitions.open_bytes + self.files.sealed_bytes
        return payload + RECORD_OVERHEAD_BYTES * self.held_records

    @property
    def max_held_bytes(self) -> int:
        return self.plan.max_held_bytes

    def positions(self) -> list[PartitionPosition]:
        return self.partitions.positions()

    def stop(self) -> None:
        self.stopping = True

    def fail(self, message: str) -> None:
        """Stop, and have :meth:`run` raise :class:`ArchiveError` with ``message``."""
        self._fatal = self._fatal or ArchiveError(message)
        self.stop()

    async def run(self) -> int:
        """Archive until stopped; 0 when everything taken in was written and committed."""
        needs = [Need("READ", topic) for topic in self.plan.topics]
        await start_client(self._consumer, self.settings, needs)
        try:
            await self._wait_for_topics()
            self._consumer.subscribe(list(self.plan.topics), listener=self.partitions)
            writer = asyncio.get_running_loop().create_task(self.files.run())
            try:
                while not self.stopping and not writer.done():
                    await self._poll()
                    if self.plan.once and await self._drained():
                        break
            finally:
                await self._finish(writer)
        finally:
            await self._consumer.stop()
        if self._fatal is not None:
            raise self._fatal
        return 0

    async def _wait_for_topics(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.startup_timeout_s
        for topic in self.plan.topics:
            while not await partitions_of(self._consumer, topic):
                if loop.time() > deadline or self.stopping:
                    raise ArchiveError(f"topic {topic!r} does not exist")
                await asyncio.sleep(TOPIC_POLL_S)

    # Polling.
    async def _poll(self) -> None:
        timeout_ms = PAUSED_POLL_TIMEOUT_MS if self.paused else POLL_TIMEOUT_MS
        try:
            batches = await self._consumer.getmany(timeout_ms=timeout_ms)
        except FATAL:
            raise
        except GroupAuthorizationFailedError as exc:
            if not self.partitions.joined:  # the configuration's, not a passing trouble
                line = group_refusal_line(self.settings, self.plan.group_id, "READ")
                raise PermissionMissing(line) from None
            await self._after_failed_poll(exc)
            batches = {}
        except Exception as exc:
            await self._after_failed_poll(exc)
            batches = {}
        for tp, records in batches.items():
            self._take(tp, records)
        now_s = time.monotonic()
        for partition in self.partitions.owned():
            reason = full(self.plan.policy, partition.open, now_s) if partition.open else None
            if reason is not None:
                self._seal(partition, reason)
        self._apply_backpressure()

    def _take(self, tp: TopicPartition, records: list[Any]) -> None:
        partition = self.partitions.get(tp)
        if partition is None:
            return  # revoked while this poll ran: the next owner reads them again
        policy, now_s = self.plan.policy, time.monotonic()
        for record in records:
            day = day_of(record.timestamp)
            if partition.open is not None and belongs_to_next_file(partition.open, day):
                self._seal(partition, "day")
            if partition.open is None:
                partition.open = OpenFile(day, now_s)
            size = held_size(record)
            partition.open.add(record, size)
            self.partitions.open_bytes += size
            self.partitions.open_records += 1
            partition.next_offset = record.offset + 1
            self.stats.consumed += 1
            if (reason := full(policy, partition.open, now_s)) is not None:
                self._seal(partition, reason)

    async def _after_failed_poll(self, error: Exception) -> None:
        """Read raw past records the client cannot decode; wait out anything else."""
        if not undecodable(error):
            self._warnings.warning("poll_failed", repr(error), error=repr(error))
            await asyncio.sleep(self._backoff.delay_s(1))
            return
        self._warnings.warning("undecodable_fetch", repr(error), error=repr(error))
        consumer = self._consumer
        for tp in sorted(consumer.assignment() - consumer.paused()):
            partition = self.partitions.get(tp)
            if partition is None:
                continue
            offset = partition.next_offset
            if offset is None:
                offset = int(await consumer.position(tp))
            try:
                read = await read_partition_raw(
                    consumer, tp, offset, self.settings.max_partition_fetch_bytes,
                    self.settings.isolation_level == "read_committed",
                )  # fmt: skip
            except KafkaError as exc:
                self._warnings.warning("raw_read_failed", repr(exc), error=repr(exc))
                await asyncio.sleep(self._backoff.delay_s(1))
                return
            self._take(tp, list(read.records))
            partition.next_offset = read.next_offset

    def _seal(self, partition: Partition, reason: RollReason) -> None:
        file = partition.open
        if file is None:
            return
        tp = partition.tp
        name = FileName(tp.topic, tp.partition, file.first_offset, file.last_offset, file.day)
        partition.open = None
        self.partitions.open_bytes -= file.bytes
        self.partitions.open_records -= len(file.records)
        self.files.submit(Job(partition, SealedFile(name, file.records, file.bytes, reason)))

    def _apply_backpressure(self) -> None:
        held, limit = self.held_bytes, self.plan.max_held_bytes
        if not self.paused and held >= limit:
            self.paused = True
            self.stats.pauses += 1
            self.partitions.pause_all()
        elif self.paused and held <= limit * RESUME_RATIO:
            self.paused = False
            self.stats.resumes += 1
            self.partitions.resume_all()
        if self.paused and self.files.idle:
            largest = max(self.partitions.owned(), key=lambda p: p.open.bytes if p.open else 0)
            self._seal(largest, "pressure")

    async def _drained(self) -> bool:
        """``--once``: every partition read to the end it had when assigned, and written."""
        if not self.partitions.joined:
            return False
        for partition in self.partitions.owned():
            if partition.end is None or await self._consumer.position(partition.tp) < partition.end:
                return False
            self._seal(partition, "drained")
        return self.files.idle

    async def wait_for_writes_of(self, revoked: set[TopicPartition], timeout_s: float) -> None:
        await self.files.wait_for_writes_of(revoked, timeout_s)

    async def _finish(self, writer: asyncio.Task[None]) -> None:
        """Write what is held (bounded by the shutdown timeout), then stop writing."""
        if not writer.done() and self._fatal is None:
            for partition in self.partitions.owned():
                self._seal(partition, "stopping")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.shutdown_timeout_s):
                    while not self.files.idle and not writer.done():
                        await asyncio.sleep(0.01)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
