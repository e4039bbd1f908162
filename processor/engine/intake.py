"""Intake: poll the consumer, hand records to the scheduler, pause and resume on backpressure.

While paused it keeps calling ``getmany`` (which then returns nothing for the paused partitions),
because a consumer that stops polling for ``max_poll_interval_ms`` is removed from its group.
When ``getmany`` raises because the client cannot decode what it fetched, intake reads the
partitions raw instead (:mod:`processor.engine.rawread`) and goes on past the records at fault.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    ConsumerStoppedError,
    IllegalStateError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from processor.engine.emit import Backoff
from processor.engine.flow import FlowControl
from processor.engine.inflight import take_in
from processor.engine.offsets import OffsetTracker
from processor.engine.positions import read_position
from processor.engine.rawread import read_partition_raw, undecodable
from processor.engine.scheduler import Scheduler
from processor.engine.stats import Stats
from processor.logs import ThrottledWarnings, get_logger

log = get_logger("processor.engine.intake")

POLL_TIMEOUT_MS = 100
# While paused a poll returns nothing and only keeps the member alive; polling often means
# intake resumes within a few milliseconds of the queue draining to the low watermark.
PAUSED_POLL_TIMEOUT_MS = 5
# Errors that mean the consumer itself is gone or misused: a bug or a shutdown, not a record.
FATAL = (ConsumerStoppedError, IllegalStateError)
WARNING_INTERVAL_S = 30.0


def _read_trouble(error: Exception) -> str:
    """Readiness's reason while polls fail; a revoked ACL says so plainly."""
    if isinstance(error, TopicAuthorizationFailedError):
        # aiokafka gives one topic, or a set of them.
        named = {a for arg in error.args for a in ([arg] if isinstance(arg, str) else arg)}
        topics = ", ".join(repr(topic) for topic in sorted(named))
        return f"permission missing: may not READ topic {topics} (retrying until granted)"
    return f"cannot read the input: {error!r}"


class Intake:
    """The consumer loop: takes records in under their partition's tracker (``tracker_for``)."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        flow: FlowControl,
        tracker_for: Callable[[TopicPartition], OffsetTracker | None],
        scheduler: Scheduler,
        stats: Stats,
        backoff: Backoff,
        max_partition_fetch_bytes: int,
        read_committed: bool = True,
    ) -> None:
        self._consumer = consumer
        self._flow = flow
        self._tracker_for = tracker_for
        self._scheduler = scheduler
        self._stats = stats
        self._backoff = backoff
        self._fetch_bytes = max_partition_fetch_bytes
        self._read_committed = read_committed  # raw reads leave out aborted transactions too
        self._stopping = asyncio.Event()
        # The offset after the last record taken in, per partition of this assignment: where
        # reading must go on after a failed poll (which may have moved positions past records
        # it never returned).
        self._next: dict[TopicPartition, int] = {}
        # How far reading has passed over each partition, as of the last poll that returned: every
        # offset below is a record taken in, or one the consumer never hands out (a transaction
        # marker, an aborted record). Commits may go past the trackers up to here, never beyond:
        # a poll that failed or was cut short by a stop may have moved the consumer's position
        # past records no tracker saw.
        self._passed: dict[TopicPartition, int] = {}
        self._warnings = ThrottledWarnings(log, WARNING_INTERVAL_S)
        self._failures = 0
        self.trouble: str | None = None  # why reading is stuck right now (readiness)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        consumer = self._consumer
        while not self._stopping.is_set():
            self.apply_backpressure()
            room = self._flow.room()
            timeout_ms = PAUSED_POLL_TIMEOUT_MS if self._flow.paused else POLL_TIMEOUT_MS
            try:
                batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=room or 1)
            except FATAL:
                raise
            except Exception as exc:  # sorted out below: the record's fault or the cluster's
                await self._after_failed_poll(exc)
                continue
            if self._stopping.is_set():
                break  # what was just fetched is not tracked, so it is read again later
            if self._failures:
                self._failures, self.trouble = 0, None
            for tp, records in batches.items():
                self._take(tp, records)
            for tp in consumer.assignment():  # in the same step: nothing taken in between
                self._passed[tp] = read_position(consumer, tp)

    def passed(self, tp: TopicPartition) -> int:
        """How far reading has passed over ``tp`` (0: not known)."""
        return self._passed.get(tp, 0)

    def _take(self, tp: TopicPartition, records: Sequence[Any]) -> list[Any]:
        tracker = self._tracker_for(tp)
        if tracker is None:
            # Not held yet (aiokafka may fetch before the assignment callback has run) or being
            # let go: these are read again, by this instance once it holds the partition or by
            # the next owner. Never past them: a record skipped here must not be committed past.
            if tp in self._consumer.assignment():
                self._consumer.seek(tp, records[0].offset)
            return []
        items, size = take_in(records, tracker)
        self._flow.admit_many(len(items), size)
        self._scheduler.put_many(items)
        self._stats.consumed += len(items)
        self._next[tp] = records[-1].offset + 1
        return items

    def forget(self, partitions: set[TopicPartition]) -> None:
        """A new assignment starts where the group committed: forget where reading was."""
        for tp in partitions:
            self._next.pop(tp, None)
            self._passed.pop(tp, None)

    async def _after_failed_poll(self, error: Exception) -> None:
        """A poll raised: read raw past what the client cannot decode, or wait out the cluster."""
        self._failures += 1
        if not undecodable(error):
            self.trouble = _read_trouble(error)
            self._warn("poll_failed", error)
            await asyncio.sleep(self._backoff.delay_s(self._failures))
            return
        self._warn("undecodable_fetch", error)
        try:
            await self._read_raw()
        except KafkaError as exc:  # the cluster, this time: try again after a back-off
            self.trouble = f"cannot read past undecodable records: {exc!r}"
            self._warn("raw_read_failed", exc)
            await asyncio.sleep(self._backoff.delay_s(self._failures))

    async def _read_raw(self) -> None:
        """Read every fetchable partition once, raw, from where intake stands on it."""
        consumer = self._consumer
        for tp in sorted(consumer.assignment() - consumer.paused()):
            offset = await self._position(tp)
            read = await read_partition_raw(
                consumer, tp, offset, self._fetch_bytes, self._read_committed
            )
            if read.records:
                items = self._take(tp, read.records)
                for item in items:
                    failure = read.failures.get(item.source.offset)
                    if failure is not None:
                        item.failure = failure
                        self._stats.undecodable += 1
                        log.warning("undecodable_record", topic=tp.topic, partition=tp.partition,
                                    offset=item.source.offset, error_class=failure.error_class,
                                    message=failure.message)  # fmt: skip
            self._next[tp] = read.next_offset
            self._passed[tp] = read.next_offset

    async def _position(self, tp: TopicPartition) -> int:
        """Where reading ``tp`` goes on: after what was taken in, else where the group is."""
        known = self._next.get(tp)
        if known is not None:
            return known
        committed = await self._consumer.committed(tp)
        if committed is not None:
            return int(committed)
        return int(await self._consumer.position(tp))

    def _warn(self, event: str, error: BaseException) -> None:
        self._warnings.warning(event, type(error), error=repr(error))

    def apply_backpressure(self) -> None:
        """Pause every assigned partition at the high watermark; resume at the low one."""
        flow = self._flow
        move = flow.transition()
        if move == "pause":
            self._stats.pauses += 1
            self._consumer.pause(*self._consumer.assignment())
            log.info("intake_paused", records=flow.records, bytes=flow.bytes)
        elif move == "resume":
            self._stats.resumes += 1
            self._consumer.resume(*self._consumer.assignment())
            log.info("intake_resumed", records=flow.records, bytes=flow.bytes)

    def reapply_pause(self, assigned: set[TopicPartition]) -> None:
        """A rebalance forgets pauses, even for partitions that stay: pause again if needed."""
        if self._flow.paused and assigned:
            self._consumer.pause(*assigned)
        self.forget(assigned)
