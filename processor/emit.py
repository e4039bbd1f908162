"""The emitter: owns the idempotent producer and writes outputs and dead letters in batches.

Each destination partition has its own queue and sender task. A sender fills one batch from the
head of its queue, sends it, and waits for the broker's acknowledgement before it sends the next,
so records of one key keep their order even when a batch must be retried. Only after the ack is a
record handed back (``on_delivered``) to have its source offset marked done. An unavailable topic
is never a record's fault: the sender retries with back-off for as long as it takes, while intake
pauses because nothing is released.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from aiokafka.partitioner import murmur2

from processor.logs import get_logger
from processor.pipeline import Headers
from processor.stats import Stats

T = TypeVar("T")
# (key, value, headers, timestamp_ms, token): the token is handed back on delivery.
Entry: TypeAlias = tuple[bytes | None, bytes | None, Headers, int | None, T]
TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)

log = get_logger("processor.emit")


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
    task: asyncio.Task[None] | None = None


class Emitter(Generic[T]):
    """Batches records per destination partition and reports each one once it is acknowledged."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        on_delivered: Callable[[T], None],
        stats: Stats,
        backoff: Backoff,
        on_crash: Callable[[BaseException], None],
        on_too_large: Callable[[str, Entry[T]], None],
    ) -> None:
        self._producer = producer
        self._on_delivered = on_delivered
        self._stats = stats
        self._backoff = backoff
        self._on_crash = on_crash
        self._on_too_large = on_too_large
        self._partitions: dict[str, int] = {}
        self._queues: dict[tuple[str, int], _PartitionQueue[T]] = {}
        self._unresolved: dict[str, list[Entry[T]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.pending = 0

    async def learn_topics(self, topics: list[str]) -> None:
        """Fetch partition counts up front, so ``submit`` never waits for metadata."""
        for topic in topics:
            await self._resolve(topic)

    def submit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        token: T,
        timestamp_ms: int | None = None,
    ) -> None:
        """Queue one record for ``topic``; ``token`` comes back through ``on_delivered``."""
        self.pending += 1
        entry = (key, value, headers, timestamp_ms, token)
        count = self._partitions.get(topic)
        if count is None:
            self._park(topic, entry)
            return
        partition = (murmur2(key) & 0x7FFFFFFF) % count if key else random.randrange(count)
        queue = self._queues.get((topic, partition))
        if queue is None:
            queue = self._start_queue(topic, partition)
        queue.records.append(entry)
        queue.wake.set()

    async def flush(self, timeout_s: float) -> bool:
        """Wait until everything submitted is acknowledged; False if ``timeout_s`` ran out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.pending and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return self.pending == 0

    async def close(self) -> None:
        """Stop the senders; records not yet acknowledged are simply not reported."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

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
                partitions = await self._producer.partitions_for(topic)
                self._partitions[topic] = len(partitions)
            except KafkaError as exc:
                attempt += 1
                log.warning("topic_unavailable", topic=topic, error=repr(exc), attempt=attempt)
                await asyncio.sleep(self._backoff.delay_s(attempt))

    def _start_queue(self, topic: str, partition: int) -> _PartitionQueue[T]:
        queue: _PartitionQueue[T] = _PartitionQueue()
        self._queues[(topic, partition)] = queue
        queue.task = self._spawn(self._send_forever(topic, partition, queue))
        return queue

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self._on_crash(error)  # a bug, not a broker fault: stop loudly

    async def _send_forever(self, topic: str, partition: int, queue: _PartitionQueue[T]) -> None:
        records = queue.records
        while True:
            if not records:
                queue.wake.clear()
                await queue.wake.wait()
                continue
            count = await self._send_head(topic, partition, records)
            if count == 0:  # the head record alone is more than the broker accepts
                self.pending -= 1
                self._on_too_large(topic, records.popleft())
                continue
            self.pending -= count
            for _ in range(count):
                self._on_delivered(records.popleft()[4])

    async def _send_head(self, topic: str, partition: int, records: deque[Entry[T]]) -> int:
        """Send one batch from the head of ``records`` until the broker acknowledges it.

        Returns how many records it held, or 0 when the first record alone is too large.
        """
        attempt = 0
        limit = len(records)
        while True:
            batch, count = self._fill(records, limit)
            try:
                delivery = await self._producer.send_batch(batch, topic, partition=partition)
                await delivery
                self._stats.delivered += count
                return count
            except TOO_LARGE as exc:
                if count == 1:
                    log.error("record_too_large", topic=topic, partition=partition, error=repr(exc))
                    return 0
                limit = max(1, count // 2)  # the topic takes smaller batches: split and go on
            except KafkaError as exc:
                attempt += 1
                self._stats.producer_retries += 1
                log.warning(
                    "send_failed",
                    topic=topic,
                    partition=partition,
                    records=count,
                    error=repr(exc),
                    attempt=attempt,
                )
                await asyncio.sleep(self._backoff.delay_s(attempt))

    def _fill(self, records: deque[Entry[T]], limit: int) -> tuple[Any, int]:
        batch = self._producer.create_batch()
        count = 0
        for key, value, headers, timestamp_ms, _ in records:
            if count == limit:
                break
            if (
                batch.append(key=key, value=value, timestamp=timestamp_ms, headers=list(headers))
                is None
            ):
                break
            count += 1
        return batch, count
