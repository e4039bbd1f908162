"""The emitter: owns the idempotent producer and writes outputs and dead letters in batches.

Each destination partition has its own queue and sender task. A sender fills one batch from the
head of its queue, sends it, and waits for the broker's acknowledgement before it sends the next,
so records of one key keep their order even when a batch must be retried. Only after the ack is a
record handed back (``acknowledged``) to have its source offset marked done. An unavailable topic
is never a record's fault: the sender retries with back-off for as long as it takes, while intake
pauses because nothing is released. A record the broker refuses for itself (its size, its
timestamp, a null key on a compacted topic, a policy) is handed back as ``refused``, alone: a
refused batch is split until the one record at fault is found.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidProducerEpoch,
    InvalidTimestampError,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnknownError,
    UnknownProducerId,
)
from aiokafka.partitioner import murmur2

from processor.config import Settings
from processor.engine.cancel import cancel_and_wait
from processor.engine.recordsize import record_bytes
from processor.engine.stats import Stats
from processor.logs import ThrottledWarnings, get_logger
from processor.pipeline import Headers
from processor.security.permissions import Need, require, require_transactional_id

T = TypeVar("T")


class Entry(NamedTuple, Generic[T]):
    """One record waiting in a partition queue; ``token`` is handed back on delivery."""

    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None
    token: T


TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)
# The broker refuses these for what a record holds. Kafka's INVALID_RECORD (87: e.g. a null key
# on a compacted topic) is not in aiokafka's table of codes and arrives as UnknownError.
REFUSED = (InvalidTimestampError, PolicyViolationError, CorruptRecordException, UnknownError)
# After these the producer's sequence numbers for a partition no longer match the broker's
# (aiokafka does not reset them itself, and a refused batch used its numbers), so only a new
# producer id gets writes going again.
BROKEN_SEQUENCE = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, *TOO_LARGE,
                   *REFUSED)  # fmt: skip

# Kafka's murmur2 is pure Python in aiokafka, and keys repeat: the emitter remembers the hashes
# of recent keys, up to this many bytes of keys (then it starts afresh). Longer keys are rare and
# hashed each time.
KEY_HASH_CACHE_BYTES = 4 * 1024 * 1024
MAX_CACHED_KEY_BYTES = 1024

# How long closing waits for the senders to end.
SENDERS_STOP_S = 2.0
# Records with more headers than this get the exact size check whatever their size.
MANY_HEADERS = 64

# One warning per cause per interval: an outage fails every send of every partition.
WARNING_INTERVAL_S = 30.0

log = get_logger("processor.engine.emit")
_new = tuple.__new__


def _write_trouble(topic: str, partition: int, error: KafkaError) -> str:
    """Readiness's reason while writes to a partition fail; a revoked ACL says so plainly."""
    if isinstance(error, TopicAuthorizationFailedError):
        return f"permission missing: may not WRITE topic {topic!r} (retrying until granted)"
    return f"cannot write to {topic}/{partition}: {error!r}"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the broker (or the size check before sending) will not take a record, ever."""

    error_class: str
    message: str
    too_large: bool = False


def _unwired(*_: object) -> None:
    raise RuntimeError("the emitter reports to no one: call listen() before submit()")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential back-off with full jitter, capped."""

    base_s: float
    max_s: float

    def delay_s(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_s, self.base_s * 2 ** min(attempt, 30)))


@dataclass(slots=True)
class _PartitionQueue(Generic[T]):
    records: deque[Entry[T]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # After the broker refused a batch for a record in it, its records go one at a time: each
    # refusal costs a new producer (its sequence numbers are spent), so no search by halving.
    singles: int = 0


class Emitter(Generic[T]):
    """Batches records per destination partition and reports each one once it is acknowledged."""

    def __init__(
        self,
        make_producer: Callable[[], AIOKafkaProducer],
        stats: Stats,
        backoff: Backoff,
        max_record_bytes: int,
        make_single_producer: Callable[[], AIOKafkaProducer] | None = None,
    ) -> None:
        self._make_producer = make_producer
        # Sends the records of a refused batch one at a time. Not idempotent: a record the
        # broker refuses spends an idempotent producer's sequence numbers, and only a new
        # producer (tens of milliseconds) would go on; here a refusal costs nothing. One record
        # in flight per partition keeps the order; a network retry may write one twice.
        self._make_single_producer = make_single_producer
        self._single_producer: AIOKafkaProducer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._generation = 0
        self._needs_new_producer = False
        self._reset_lock = asyncio.Lock()
        # Who hears of each record's end (listen()): its owner when acknowledged, the handler
        # when refused, the processor when a sender crashes.
        self._acknowledged: Callable[[Sequence[T]], None] = _unwired
        self._refused: Callable[[str, Entry[T], Refusal], None] = _unwired
        self._crashed: Callable[[BaseException], None] = _unwired
        self._stats = stats
        self._backoff = backoff
        self.max_record_bytes = max_record_bytes
        self._partitions: dict[str, int] = {}
        self._queues: dict[tuple[str, int], _PartitionQueue[T]] = {}
        self._unresolved: dict[str, list[Entry[T]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._hashes: dict[bytes, int] = {}
        self._hashed_bytes = 0
        self._warnings = ThrottledWarnings(log, WARNING_INTERVAL_S)
        # Why writes to a destination fail right now (readiness says so); cleared on success.
        self.failing: dict[tuple[str, int], str] = {}
        self.pending = 0

    def listen(
        self,
        *,
        acknowledged: Callable[[Sequence[T]], None],
        refused: Callable[[str, Entry[T], Refusal], None],
        crashed: Callable[[BaseException], None],
    ) -> None:
        """Name who hears what becomes of the records: ``acknowledged(tokens)`` once the broker
        has them, ``refused(topic, entry, refusal)`` for one ``topic`` will never take (it is out
        of the queue), ``crashed(error)`` when a sender fails from a bug, not a broker fault.

        Wired after construction: the handler both submits records here and hears of their
        refusals."""
        self._acknowledged, self._refused, self._crashed = acknowledged, refused, crashed

    async def start_producer(self) -> None:
        """Start the producer (raises KafkaError while the cluster cannot be reached)."""
        self._producer = await _started(self._make_producer())

    async def refuse_missing_permissions(
        self, settings: Settings, needs: list[Need], transactional_ids: Sequence[str] = ()
    ) -> None:
        """Raise PermissionMissing for the first of ``needs`` (or ``transactional_ids``) the
        cluster does not allow."""
        client = self._live_producer().client
        await require(client, settings, needs)
        for transactional_id in transactional_ids:
            await require_transactional_id(client, settings, transactional_id)

    async def missing_topics(self, topics: Sequence[str]) -> list[str]:
        """Which of ``topics`` the cluster does not have (one metadata request)."""
        metadata = await self._live_producer().client.fetch_all_metadata()
        known = metadata.topics()
        return [topic for topic in topics if topic not in known]

    async def learn_partitions(self, topics: Sequence[str]) -> None:
        """Learn the partition counts of ``topics`` up front."""
        for topic in topics:
            await self._resolve(topic)

    @property
    def started(self) -> bool:
        return self._producer is not None

    def submit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        token: T,
        timestamp_ms: int | None = None,
    ) -> None:
        """Queue one record for ``topic``; ``token`` comes back once it is acknowledged."""
        self.pending += 1
        # tuple.__new__ skips the NamedTuple's Python-level constructor (this runs per record).
        entry: Entry[T] = _new(Entry, (key, value, headers, timestamp_ms, token))
        count = self._partitions.get(topic)
        if count is None:
            self._park(topic, entry)
            return
        # An empty key is a key (Kafka hashes it too); only a missing one spreads at random.
        partition = self._key_hash(key) % count if key is not None else random.randrange(count)
        queue = self._queues.get((topic, partition))
        if queue is None:
            queue = self._start_queue(topic, partition)
        queue.records.append(entry)
        queue.wake.set()

    def _key_hash(self, key: bytes) -> int:
        hashes = self._hashes
        found = hashes.get(key)
        if found is None:
            found = murmur2(key) & 0x7FFFFFFF
            if len(key) <= MAX_CACHED_KEY_BYTES:
                if self._hashed_bytes + len(key) > KEY_HASH_CACHE_BYTES:
                    hashes.clear()
                    self._hashed_bytes = 0
                hashes[key] = found
                self._hashed_bytes += len(key)
        return found

    async def close(self, timeout_s: float) -> None:
        """Stop the senders, then the producer within ``timeout_s`` (it flushes what it holds).

        Unacknowledged records are simply not reported. During an outage the producer would
        wait for the broker for ever: past the timeout it is abandoned.
        """
        await cancel_and_wait(list(self._tasks), SENDERS_STOP_S)
        producers = [p for p in (self._producer, self._single_producer) if p is not None]
        try:
            stops = asyncio.gather(*(producer.stop() for producer in producers))
            await asyncio.wait_for(stops, max(timeout_s, 0.001))
        except TimeoutError:
            log.warning("producer_close_timed_out", timeout_s=round(timeout_s, 3))

    def _park(self, topic: str, entry: Entry[T]) -> None:
        # Metadata for this topic is not known yet: keep its records in order until it is.
        parked = self._unresolved.get(topic)
        if parked is None:
            parked = self._unresolved[topic] = []
            self._spawn(self._resolve_and_release(topic))
        parked.append(entry)

    async def _resolve_and_release(self, topic: str) -> None:
        await self._resolve(topic)
        parked = self._unresolved.pop(topic)
        for key, value, headers, timestamp_ms, token in parked:
            self.pending -= 1
            self.submit(topic, key, value, headers, token, timestamp_ms)

    async def _resolve(self, topic: str) -> None:
        attempt = 0
        while topic not in self._partitions:
            try:
                partitions = await self._live_producer().partitions_for(topic)
                self._partitions[topic] = len(partitions)
                self.failing.pop((topic, -1), None)
            except KafkaError as exc:
                attempt += 1
                self.failing[(topic, -1)] = f"topic {topic} unavailable: {exc!r}"
                self._warnings.warning("topic_unavailable", (topic, type(exc)), topic=topic,
                                       error=repr(exc), attempt=attempt)  # fmt: skip
                await asyncio.sleep(self._backoff.delay_s(attempt))

    def _start_queue(self, topic: str, partition: int) -> _PartitionQueue[T]:
        queue: _PartitionQueue[T] = _PartitionQueue()
        self._queues[(topic, partition)] = queue
        self._spawn(self._send_forever(topic, partition, queue))
        return queue

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self._crashed(error)

    def _live_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("the emitter was not started")
        return self._producer

    async def _send_forever(self, topic: str, partition: int, queue: _PartitionQueue[T]) -> None:
        records = queue.records
        acknowledged = self._stats.acknowledged
        while True:
            if not records:
                queue.wake.clear()
                await queue.wake.wait()
                continue
            count, refusal = await self._send_head(topic, partition, queue)
            if queue.singles:
                queue.singles = max(queue.singles - count, 0)
            if refusal is not None:
                self.pending -= 1
                self._refused(topic, records.popleft(), refusal)
                continue
            self.pending -= count
            acknowledged[topic] += count
            self._acknowledged([records.popleft().token for _ in range(count)])

    async def _send_head(
        self, topic: str, partition: int, queue: _PartitionQueue[T]
    ) -> tuple[int, Refusal | None]:
        """Send one batch from the head of ``records`` until the broker acknowledges it.

        Returns how many records it held, or ``(1, refusal)`` when the head record alone is one
        the topic will never take.
        """
        attempt = 0
        records = queue.records
        limit = 1 if queue.singles else len(records)
        while True:
            if self._needs_new_producer and not await self._replace_producer(self._generation):
                attempt += 1
                await asyncio.sleep(self._backoff.delay_s(attempt))
                continue
            producer, generation = self._live_producer(), self._generation
            single = queue.singles > 0 and self._make_single_producer is not None
            if single:
                producer = await self._single_producer_started()
            batch, count, refusal = self._fill(producer, records, limit)
            if refusal is not None:
                return 1, refusal
            try:
                await (await producer.send_batch(batch, topic, partition=partition))
            except KafkaError as exc:
                attempt += 1
                self._stats.producer_retries += 1
                self._warnings.warning("send_failed", (topic, partition, type(exc)), topic=topic,
                                       partition=partition, records=count, attempt=attempt,
                                       error=repr(exc))  # fmt: skip
                if isinstance(exc, BROKEN_SEQUENCE) and not single:
                    await self._replace_producer(generation)
                if isinstance(exc, (*TOO_LARGE, *REFUSED)):
                    if count == 1:
                        return 1, refusal_of(exc)
                    if isinstance(exc, REFUSED):
                        queue.singles = count  # the record at fault is among these
                    limit = 1 if queue.singles else max(1, count // 2)  # too large: halve
                    continue
                self.failing[(topic, partition)] = _write_trouble(topic, partition, exc)
                await asyncio.sleep(self._backoff.delay_s(attempt))
                continue
            if self.failing:
                self.failing.pop((topic, partition), None)
            return count, None

    def _fill(
        self, producer: AIOKafkaProducer, records: deque[Entry[T]], limit: int
    ) -> tuple[Any, int, Refusal | None]:
        """A batch of up to ``limit`` records from the head, or why the head cannot be sent.

        A refused head is never sent, so it costs the producer no sequence number.
        """
        batch = producer.create_batch()
        append = batch.append
        count = 0
        quick = self.max_record_bytes // 2
        for key, value, headers, timestamp_ms, _ in records:
            if count == limit:
                break
            # The exact bound only for records that may be near it (it is a loop over headers).
            if (len(value or b"") + len(key or b"") > quick or len(headers) > MANY_HEADERS) and (
                size := record_bytes(key, value, headers)
            ) > self.max_record_bytes:
                if count:
                    break  # it comes to the head next, and is refused alone
                message = f"{size} bytes, more than the {self.max_record_bytes} a request takes"
                return None, 0, Refusal("RecordTooLarge", message, too_large=True)
            try:
                appended = append(key=key, value=value, timestamp=timestamp_ms,
                                  headers=list(headers))  # fmt: skip
            except Exception as exc:  # what the client cannot encode: that record's fault
                if count == 0:
                    message = f"the Kafka client cannot encode it: {exc!r}"
                    return None, 0, Refusal("InvalidRecord", message)
                break  # it comes to the head next, and is refused alone
            if appended is None:
                break
            count += 1
        return batch, count, None

    async def _single_producer_started(self) -> AIOKafkaProducer:
        if self._single_producer is None:
            assert self._make_single_producer is not None
            self._single_producer = await _started(self._make_single_producer())
        return self._single_producer

    async def _replace_producer(self, generation: int) -> bool:
        """Replace the producer once per failure, however many senders saw it.

        False when the new one could not start (the cluster is unreachable): the senders try
        again after a back-off, and no sender writes through the broken one meanwhile.
        """
        async with self._reset_lock:
            if generation != self._generation and not self._needs_new_producer:
                return True
            old = self._live_producer()
            try:
                fresh = await _started(self._make_producer())
            except KafkaError as exc:
                self._needs_new_producer = True
                self._warnings.warning("producer_reset_failed", type(exc), error=repr(exc))
                return False
            self._producer, self._generation = fresh, self._generation + 1
            self._needs_new_producer = False
            self._warnings.warning("producer_reset", None, generation=self._generation)
        # Batches still queued in the old producer may yet be written; their senders resend
        # whatever fails, so stopping it in the background is safe.
        self._spawn(_stop_quietly(old))
        return True


def refusal_of(error: KafkaError) -> Refusal:
    """Why the broker refused a record for what it holds, as the handler reports it."""
    if isinstance(error, TOO_LARGE):
        return Refusal("RecordTooLarge", f"the broker refused its size: {error!r}", True)
    if isinstance(error, UnknownError):
        message = ("the broker refused the record with a code aiokafka does not name (Kafka's "
                   "INVALID_RECORD is one: e.g. a null key on a compacted topic)")  # fmt: skip
        return Refusal("InvalidRecord", message)
    return Refusal(type(error).__name__, f"the broker refused the record: {error!r}")


async def _started(producer: AIOKafkaProducer) -> AIOKafkaProducer:
    """``producer``, started; one that fails to start is stopped (its connections closed)."""
    try:
        await producer.start()
    except BaseException:
        await _stop_quietly(producer)
        raise
    return producer


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await producer.stop()
    except Exception as exc:  # a producer that never started, or a broker that is gone
        log.info("old_producer_stop_failed", error=repr(exc))
