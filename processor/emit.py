"""The emitter: owns the idempotent producer and writes outputs and dead letters in batches.

Each destination partition has its own queue and sender task. A sender fills one batch from the
head of its queue, sends it, and waits for the broker's acknowledgement before it sends the next,
so records of one key keep their order even when a batch must be retried. Only after the ack is a
record handed back (``delivered_many``) to have its source offset marked done. An unavailable topic
is never a record's fault: the sender retries with back-off for as long as it takes, while intake
pauses because nothing is released.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnknownProducerId,
)
from aiokafka.partitioner import murmur2

from processor.logs import get_logger
from processor.pipeline import Headers
from processor.stats import Stats

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
# (key, value, headers, timestamp_ms, token): the token is handed back on delivery.
Entry: TypeAlias = tuple[bytes | None, bytes | None, Headers, int | None, T]

TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)
# After these the producer's sequence numbers for a partition no longer match the broker's
# (aiokafka does not reset them itself), so only a new producer id gets writes going again.
BROKEN_SEQUENCE = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, *TOO_LARGE)

KEY_HASH_CACHE_SIZE = 100_000

log = get_logger("processor.emit")


class DeliveryListener(Protocol[T_contra]):
    def delivered_many(self, tokens: Sequence[T_contra]) -> None:
        """The broker acknowledged the records carrying ``tokens``."""

    def too_large(self, topic: str, entry: Entry[T_contra]) -> None:
        """``topic`` refuses the record for its size; it was taken out of the queue."""

    def crashed(self, error: BaseException) -> None:
        """A sender failed from a bug (not a broker fault)."""


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


class Emitter(Generic[T]):
    """Batches records per destination partition and reports each one once it is acknowledged."""

    def __init__(
        self,
        make_producer: Callable[[], AIOKafkaProducer],
        listener: DeliveryListener[T],
        stats: Stats,
        backoff: Backoff,
        max_record_bytes: int,
    ) -> None:
        self._make_producer = make_producer
        self._producer: AIOKafkaProducer | None = None
        self._generation = 0
        self._reset_lock = asyncio.Lock()
        self._listener = listener
        self._stats = stats
        self._backoff = backoff
        self._max_record_bytes = max_record_bytes
        self._partitions: dict[str, int] = {}
        self._queues: dict[tuple[str, int], _PartitionQueue[T]] = {}
        self._unresolved: dict[str, list[Entry[T]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._hashes: dict[bytes, int] = {}
        self.pending = 0

    async def start(self, topics: list[str]) -> None:
        """Start the producer and learn the partition counts of ``topics`` up front."""
        self._producer = self._make_producer()
        await self._producer.start()
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
        """Queue one record for ``topic``; ``token`` comes back through ``delivered``."""
        self.pending += 1
        entry = (key, value, headers, timestamp_ms, token)
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
        # Kafka's murmur2 (so Java clients agree on partitions) is pure Python in aiokafka, and
        # keys repeat: remember recent ones.
        hashes = self._hashes
        found = hashes.get(key)
        if found is None:
            if len(hashes) >= KEY_HASH_CACHE_SIZE:
                hashes.clear()
            found = hashes[key] = murmur2(key) & 0x7FFFFFFF
        return found

    async def close(self) -> None:
        """Stop the senders and the producer; unacknowledged records are simply not reported."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._producer is not None:
            await self._producer.stop()

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
            except KafkaError as exc:
                attempt += 1
                log.warning("topic_unavailable", topic=topic, error=repr(exc), attempt=attempt)
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
            self._listener.crashed(error)

    def _live_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("the emitter was not started")
        return self._producer

    async def _send_forever(self, topic: str, partition: int, queue: _PartitionQueue[T]) -> None:
        records = queue.records
        while True:
            if not records:
                queue.wake.clear()
                await queue.wake.wait()
                continue
            count = await self._send_head(topic, partition, records)
            if count == 0:  # the head record alone is more than the topic accepts
                self.pending -= 1
                self._listener.too_large(topic, records.popleft())
                continue
            self.pending -= count
            self._listener.delivered_many([records.popleft()[4] for _ in range(count)])

    async def _send_head(self, topic: str, partition: int, records: deque[Entry[T]]) -> int:
        """Send one batch from the head of ``records`` until the broker acknowledges it.

        Returns how many records it held, or 0 when the first record alone is too large.
        """
        attempt = 0
        limit = len(records)
        while True:
            producer, generation = self._live_producer(), self._generation
            batch, count = self._fill(producer, records, limit)
            if batch is None:
                return 0
            try:
                await (await producer.send_batch(batch, topic, partition=partition))
                self._stats.delivered += count
                return count
            except KafkaError as exc:
                attempt += 1
                self._stats.producer_retries += 1
                log.warning("send_failed", topic=topic, partition=partition, records=count,
                            error=repr(exc), attempt=attempt)  # fmt: skip
                if isinstance(exc, BROKEN_SEQUENCE):
                    await self._reset_producer(generation)
                if isinstance(exc, TOO_LARGE):
                    if count == 1:
                        return 0
                    limit = max(1, count // 2)  # the topic takes smaller batches: split
                    continue
                await asyncio.sleep(self._backoff.delay_s(attempt))

    def _fill(
        self, producer: AIOKafkaProducer, records: deque[Entry[T]], limit: int
    ) -> tuple[Any, int]:
        """A batch of up to ``limit`` records from the head; (None, 0) if the head is too large."""
        batch = producer.create_batch()
        append = batch.append
        count = 0
        for key, value, headers, timestamp_ms, _ in records:
            if count == limit:
                break
            if count == 0 and _size(key, value, headers) > self._max_record_bytes:
                return None, 0  # never sent, so it costs the producer no sequence number
            if append(key=key, value=value, timestamp=timestamp_ms, headers=list(headers)) is None:
                break
            count += 1
        return batch, count

    async def _reset_producer(self, generation: int) -> None:
        """Replace the producer once per failure, however many senders saw it."""
        async with self._reset_lock:
            if generation != self._generation:
                return
            old = self._live_producer()
            fresh = self._make_producer()
            await fresh.start()
            self._producer, self._generation = fresh, generation + 1
            log.warning("producer_reset", generation=self._generation)
        # Batches still queued in the old producer may yet be written; their senders resend
        # whatever fails, so stopping it in the background is safe.
        self._spawn(_stop_quietly(old))


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await producer.stop()
    except KafkaError as exc:
        log.info("old_producer_stop_failed", error=repr(exc))


def _size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    return len(key or b"") + len(value or b"") + sum(len(n) + len(v) for n, v in headers)
