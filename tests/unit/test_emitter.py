"""Emitter: batches per destination partition, retries the environment's faults, refuses a record.

Runs against a fake producer and a fake broker (no network). The fake broker behaves like Kafka's
idempotent producer path in the ways that matter here: a batch it refuses for a record in it
(a timestamp, a size, a policy) has spent the producer's sequence numbers for that partition, so
any later write through that producer to that partition is answered with OutOfOrderSequenceNumber.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import pytest
from aiokafka.errors import (
    CorruptRecordException,
    KafkaConnectionError,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnknownError,
)
from aiokafka.errors import InvalidTimestampError as InvalidTimestamp
from aiokafka.partitioner import murmur2

import processor.engine.emit
from processor.engine.emit import (
    KEY_HASH_CACHE_BYTES,
    MAX_CACHED_KEY_BYTES,
    Backoff,
    Emitter,
    Entry,
    Refusal,
)
from processor.engine.recordsize import record_bytes
from processor.engine.stats import Stats
from processor.pipeline import Headers

OUT = "payments-ok"
DLQ = "payments-dlq"
# Errors for which the broker refuses a record for what it holds: the batch spent its sequence.
SEQUENCE_SPENDING = (
    InvalidTimestamp,
    UnknownError,
    PolicyViolationError,
    CorruptRecordException,
    RecordTooLargeError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)


class Appended(NamedTuple):
    key: bytes | None
    value: bytes | None
    timestamp: int | None
    headers: Headers


@dataclass
class Send:
    producer: int
    topic: str
    partition: int
    records: list[Appended]

    @property
    def values(self) -> list[bytes | None]:
        return [record.value for record in self.records]


class FakeBatch:
    """Takes up to ``capacity`` records and, like aiokafka's, a first record of any size but no
    more once ``max_bytes`` would be passed; like aiokafka's, it encodes header names as UTF-8."""

    def __init__(self, capacity: int, max_bytes: int) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.records: list[Appended] = []
        self.size = 0

    def append(
        self,
        *,
        key: bytes | None,
        value: bytes | None,
        timestamp: int | None,
        headers: list[tuple[str, bytes | None]],
    ) -> object | None:
        for name, _ in headers:
            name.encode("utf-8")  # raises for a lone surrogate, as aiokafka's builder does
        size = record_bytes(key, value, headers)
        if len(self.records) >= self.capacity or (
            self.records and self.size + size > self.max_bytes
        ):
            return None
        self.records.append(Appended(key, value, timestamp, tuple(headers)))
        self.size += size
        return object()


Judge = Callable[[Send], BaseException | None]


def accept_all(send: Send) -> BaseException | None:
    return None


class FakeCluster:
    """The broker as the fake producers see it; tests set how it answers."""

    def __init__(
        self, partitions: dict[str, int], batch_capacity: int = 100, batch_bytes: int = 16_384
    ) -> None:
        self.partitions = partitions
        self.batch_capacity = batch_capacity
        self.batch_bytes = batch_bytes
        self.producers: list[FakeProducer] = []
        self.sends: list[Send] = []
        self.acked: list[Send] = []
        self.judge: Judge = accept_all
        self.start_failures = 0  # how many of the next producer starts fail
        self.stop_hangs = False
        self.manual_acks = False  # hold every answer until release()
        self.held: list[tuple[asyncio.Future[None], BaseException | None, Send]] = []
        # (producer, topic, partition) whose sequence numbers a refusal spent
        self.broken: set[tuple[int, str, int]] = set()
        self.through_broken: list[Send] = []
        self.in_flight: defaultdict[tuple[str, int], int] = defaultdict(int)
        self.most_in_flight = 0

    def make_producer(self) -> FakeProducer:
        producer = FakeProducer(self, len(self.producers))
        self.producers.append(producer)
        return producer

    def answer(self, future: asyncio.Future[None], error: BaseException | None, send: Send) -> None:
        self.in_flight[(send.topic, send.partition)] -= 1
        if error is None:
            self.acked.append(send)
            future.set_result(None)
        else:
            future.set_exception(error)

    def release(self) -> None:
        """Answer the oldest held send."""
        self.answer(*self.held.pop(0))

    def stored(self, topic: str = OUT) -> list[bytes | None]:
        return [value for send in self.acked if send.topic == topic for value in send.values]


class FakeProducer:
    def __init__(self, cluster: FakeCluster, ident: int) -> None:
        self.cluster = cluster
        self.ident = ident
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        if self.cluster.start_failures > 0:
            self.cluster.start_failures -= 1
            raise KafkaConnectionError("Unable to bootstrap from [('localhost', 9092)]")
        self.started = True

    async def stop(self) -> None:
        self.stopped = True
        if self.cluster.stop_hangs:
            await asyncio.Event().wait()

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.cluster.batch_capacity, self.cluster.batch_bytes)

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.cluster.partitions[topic]))

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
        cluster = self.cluster
        assert self.started, "a send through a producer that did not start"
        assert not self.stopped, "a send through a stopped producer"
        send = Send(self.ident, topic, partition, list(batch.records))
        cluster.sends.append(send)
        key = (topic, partition)
        cluster.in_flight[key] += 1
        cluster.most_in_flight = max(cluster.most_in_flight, cluster.in_flight[key])
        error: BaseException | None
        if (self.ident, *key) in cluster.broken:
            cluster.through_broken.append(send)
            error = OutOfOrderSequenceNumber()
        else:
            error = cluster.judge(send)
            if isinstance(error, SEQUENCE_SPENDING):
                cluster.broken.add((self.ident, *key))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if cluster.manual_acks:
            cluster.held.append((future, error, send))
        else:
            cluster.answer(future, error, send)
        return future


class FakeListener:
    """Hears what the emitter reports, as the assignments, the handler and the processor do."""

    def __init__(self) -> None:
        self.acknowledged: list[str] = []
        self.refusals: list[tuple[str, Entry[str], Refusal]] = []
        self.crashes: list[BaseException] = []
        self.on_event: Callable[[], None] = lambda: None

    def acknowledge(self, tokens: Sequence[str]) -> None:
        self.acknowledged.extend(tokens)
        self.on_event()

    def refused(self, topic: str, entry: Entry[str], refusal: Refusal) -> None:
        self.refusals.append((topic, entry, refusal))
        self.on_event()

    def crashed(self, error: BaseException) -> None:
        self.crashes.append(error)

    @property
    def refused_tokens(self) -> list[str]:
        return [entry.token for _, entry, _ in self.refusals]


class CountingBackoff:
    """A Backoff that records the attempts it was asked to wait after."""

    max_s = 0.002

    def __init__(self) -> None:
        self.attempts: list[int] = []

    def delay_s(self, attempt: int) -> float:
        self.attempts.append(attempt)
        return 0.001


@dataclass
class Rig:
    cluster: FakeCluster
    emitter: Emitter[str]
    listener: FakeListener
    stats: Stats
    backoff: CountingBackoff
    submitted: list[str] = field(default_factory=list)

    def submit(
        self,
        token: str,
        value: bytes | None = None,
        *,
        topic: str = OUT,
        key: bytes | None = None,
        headers: Headers = (),
        timestamp_ms: int | None = None,
    ) -> None:
        value = token.encode() if value is None else value
        self.emitter.submit(topic, key, value, headers, token, timestamp_ms)
        self.submitted.append(token)


async def eventually(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.001)


@asynccontextmanager
async def running(
    cluster: FakeCluster | None = None, *, max_record_bytes: int = 100_000
) -> AsyncIterator[Rig]:
    cluster = cluster or FakeCluster({OUT: 1, DLQ: 1})
    listener = FakeListener()
    stats = Stats()
    backoff = CountingBackoff()
    emitter: Emitter[str] = Emitter(
        cluster.make_producer, stats, cast(Backoff, backoff), max_record_bytes
    )
    emitter.listen(
        acknowledged=listener.acknowledge, refused=listener.refused, crashed=listener.crashed
    )
    await emitter.start_producer()
    await emitter.learn_partitions(list(cluster.partitions))
    try:
        yield Rig(cluster, emitter, listener, stats, backoff)
    finally:
        cluster.stop_hangs = False
        await emitter.close(0.1)


async def test_records_of_one_partition_are_delivered_in_order_one_batch_at_a_time() -> None:
    cluster = FakeCluster({OUT: 1}, batch_capacity=3)
    cluster.manual_acks = True
    async with running(cluster) as rig:
        for index in range(8):
            rig.submit(f"r{index}")
        for sends in (1, 2, 3):
            await eventually(lambda: len(cluster.sends) == sends)  # noqa: B023
            await asyncio.sleep(0.01)
            assert len(cluster.sends) == sends  # the next batch waits for this one's ack
            cluster.release()
        await eventually(lambda: len(rig.listener.acknowledged) == 8)
        assert [len(send.records) for send in cluster.sends] == [3, 3, 2]
        assert rig.listener.acknowledged == rig.submitted
        assert cluster.stored() == [token.encode() for token in rig.submitted]
        assert rig.emitter.pending == 0


async def test_a_connection_error_is_retried_with_back_off_until_the_batch_is_delivered() -> None:
    async with running() as rig:
        seen_failing: list[dict[tuple[str, int], str]] = []

        def outage(send: Send) -> BaseException | None:
            seen_failing.append(dict(rig.emitter.failing))
            return KafkaConnectionError("broker down") if len(cluster.sends) <= 3 else None

        cluster = rig.cluster
        cluster.judge = outage
        rig.submit("a")
        rig.submit("b")
        await eventually(lambda: rig.listener.acknowledged == ["a", "b"])
        assert rig.backoff.attempts == [1, 2, 3]
        assert rig.stats.producer_retries == 3
        assert [send.values for send in cluster.sends] == [[b"a", b"b"]] * 4
        assert seen_failing[0] == {}
        assert (OUT, 0) in seen_failing[-1]  # readiness says why, while it lasts
        assert rig.emitter.failing == {}  # and stops saying so once a write got through
        assert len(cluster.producers) == 1  # not the producer's fault: it is kept
        assert rig.listener.refusals == []
        assert rig.listener.crashes == []


@pytest.mark.parametrize(
    ("error", "error_class"),
    [
        (InvalidTimestamp, "InvalidTimestampError"),
        (UnknownError, "InvalidRecord"),
        (PolicyViolationError, "PolicyViolationError"),
        (CorruptRecordException, "CorruptRecordException"),
    ],
)
async def test_a_batch_refused_for_one_record_is_split_until_only_that_record_is_refused(
    error: type[KafkaError], error_class: str
) -> None:
    async with running() as rig:
        rig.cluster.judge = lambda send: error() if b"bad" in send.values else None
        for index in range(8):
            rig.submit(f"r{index}", b"bad" if index == 5 else None)
        await eventually(lambda: len(rig.listener.acknowledged) == 7)
        assert rig.listener.acknowledged == [f"r{index}" for index in range(8) if index != 5]
        [(topic, entry, refusal)] = rig.listener.refusals
        assert (topic, entry.token, entry.value) == (OUT, "r5", b"bad")
        assert (refusal.error_class, refusal.too_large) == (error_class, False)
        assert len(rig.cluster.producers) > 1  # the refusal spent the producer's sequence
        assert rig.cluster.through_broken == []
        assert rig.listener.crashes == []
        assert rig.stats.acknowledged[OUT] == 7


@pytest.mark.parametrize("error", [RecordTooLargeError, MessageSizeTooLargeError])
async def test_a_single_record_the_broker_finds_too_large_is_refused_as_too_large(
    error: type[KafkaError],
) -> None:
    async with running() as rig:
        rig.cluster.judge = lambda send: error() if b"huge" in send.values else None
        rig.submit("huge", b"huge")
        await eventually(lambda: len(rig.listener.refusals) == 1)
        rig.submit("after")
        await eventually(lambda: rig.listener.acknowledged == ["after"])
        [(_, entry, refusal)] = rig.listener.refusals
        assert (entry.token, refusal.error_class, refusal.too_large) == (
            "huge",
            "RecordTooLarge",
            True,
        )
        assert rig.cluster.through_broken == []


async def test_a_head_record_larger_than_max_record_bytes_is_refused_without_being_sent() -> None:
    async with running(max_record_bytes=1_000) as rig:
        rig.submit("big", b"b" * 2_000)
        rig.submit("small")
        await eventually(lambda: rig.listener.acknowledged == ["small"])
        [(_, entry, refusal)] = rig.listener.refusals
        assert (entry.token, refusal.error_class, refusal.too_large) == (
            "big",
            "RecordTooLarge",
            True,
        )
        assert all(b"b" * 2_000 not in send.values for send in rig.cluster.sends)
        assert len(rig.cluster.producers) == 1  # never sent: no sequence number spent


async def test_a_header_without_a_value_never_breaks_the_size_check() -> None:
    async with running(max_record_bytes=1_000) as rig:
        rig.submit("too-big", b"v" * 2_000, headers=(("trace-id", None),))
        rig.submit("fits", headers=(("trace-id", None), ("h", b"1")))
        await eventually(lambda: len(rig.listener.refusals) == 1)
        await eventually(lambda: rig.listener.acknowledged == ["fits"])
        assert rig.listener.refused_tokens == ["too-big"]
        assert rig.listener.crashes == []


async def test_a_record_the_client_cannot_encode_is_refused_alone_and_the_sender_goes_on() -> None:
    async with running() as rig:
        rig.submit("g1")
        rig.submit("bad", headers=(("trace-\udcff", b"1"),))  # not UTF-8 (surrogateescape)
        rig.submit("g2")
        await eventually(lambda: rig.listener.acknowledged == ["g1", "g2"])
        [(_, entry, refusal)] = rig.listener.refusals
        assert (entry.token, refusal.error_class, refusal.too_large) == (
            "bad",
            "InvalidRecord",
            False,
        )
        assert rig.listener.crashes == []
        assert all(b"bad" not in send.values for send in rig.cluster.sends)


async def test_a_producer_that_cannot_be_replaced_yet_neither_crashes_nor_is_written_through() -> (
    None
):
    async with running() as rig:
        cluster = rig.cluster
        cluster.judge = lambda send: InvalidTimestamp() if b"bad" in send.values else None
        cluster.start_failures = 3  # the cluster is unreachable when the producer is replaced
        for token in ("bad", "g1", "g2"):
            rig.submit(token)
        await eventually(lambda: rig.listener.acknowledged == ["g1", "g2"])
        assert rig.listener.refused_tokens == ["bad"]
        assert rig.listener.crashes == []
        assert cluster.through_broken == []
        assert cluster.start_failures == 0
        assert rig.backoff.attempts  # it waited between the failed starts


async def test_close_returns_within_its_timeout_even_when_the_producer_never_stops() -> None:
    async with running() as rig:
        rig.submit("a")
        await eventually(lambda: rig.listener.acknowledged == ["a"])
        rig.cluster.stop_hangs = True
        started = time.monotonic()
        async with asyncio.timeout(2):
            await rig.emitter.close(0.05)
        assert time.monotonic() - started < 1.0
        assert rig.cluster.producers[0].stopped


async def test_acknowledged_counts_per_topic_only_ever_go_up() -> None:
    cluster = FakeCluster({OUT: 3, DLQ: 1}, batch_capacity=4)
    async with running(cluster, max_record_bytes=5_000) as rig:
        snapshots: list[dict[str, int]] = []
        rig.listener.on_event = lambda: snapshots.append(dict(rig.stats.acknowledged))
        sends = 0

        def flaky(send: Send) -> BaseException | None:
            nonlocal sends
            sends += 1
            error: BaseException | None = None
            if b"bad" in send.values:
                error = InvalidTimestamp()
            elif sends % 3 == 0:
                error = KafkaConnectionError()
            return error

        cluster.judge = flaky
        for index in range(30):
            value = b"bad" if index % 7 == 3 else b"x" * 6_000 if index == 11 else None
            topic = DLQ if index % 5 == 0 else OUT
            rig.submit(f"r{index}", value, topic=topic, key=str(index % 4).encode())
        await eventually(lambda: len(rig.listener.acknowledged) + len(rig.listener.refusals) == 30)
        for topic in (OUT, DLQ):
            counts = [snapshot.get(topic, 0) for snapshot in snapshots]
            assert counts == sorted(counts)
            assert rig.stats.acknowledged[topic] == len(cluster.stored(topic))
        assert sum(rig.stats.acknowledged.values()) == len(rig.listener.acknowledged)
        assert len(rig.listener.refusals) == 5  # refused records are not acknowledged
        assert rig.stats.producer_retries > len(rig.listener.refusals)  # and some were retried


async def test_keys_longer_than_the_cache_limit_are_not_cached_and_partition_by_murmur2() -> None:
    cluster = FakeCluster({OUT: 7})
    # Hashing is pure Python (about 0.35 µs a byte): mostly just-too-long keys, some of 100 KB.
    keys = [
        index.to_bytes(4, "big") * ((100_000 if index % 50 == 0 else 2_000) // 4)
        for index in range(400)
    ]
    async with running(cluster, max_record_bytes=1_000_000) as rig:
        for index, key in enumerate(keys):
            rig.submit(f"r{index}", b"v", key=key)
        await eventually(lambda: len(rig.listener.acknowledged) == len(keys))
        assert all(len(key) <= MAX_CACHED_KEY_BYTES for key in rig.emitter._hashes)
        assert rig.emitter._hashed_bytes <= KEY_HASH_CACHE_BYTES
        partition_of = {
            record.key: send.partition for send in cluster.acked for record in send.records
        }
        assert len(partition_of) == len(keys)
        for key in keys:
            assert partition_of[key] == (murmur2(key) & 0x7FFFFFFF) % 7


async def test_a_repeated_short_key_is_hashed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[bytes] = []

    def counting_murmur2(data: bytes) -> int:
        hashed.append(data)
        return int(murmur2(data))

    monkeypatch.setattr(processor.engine.emit, "murmur2", counting_murmur2)
    async with running(FakeCluster({OUT: 4})) as rig:
        for index in range(20):
            rig.submit(f"r{index}", key=b"acct-1")
        await eventually(lambda: len(rig.listener.acknowledged) == 20)
        assert hashed == [b"acct-1"]
        assert cluster_partitions(rig) == {(murmur2(b"acct-1") & 0x7FFFFFFF) % 4}


def cluster_partitions(rig: Rig) -> set[int]:
    return {send.partition for send in rig.cluster.acked}


async def test_the_key_hash_cache_never_holds_more_key_bytes_than_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bound = 10_000
    monkeypatch.setattr(processor.engine.emit, "KEY_HASH_CACHE_BYTES", bound)
    async with running(FakeCluster({OUT: 3})) as rig:
        for index in range(40):
            rig.submit(f"r{index}", key=index.to_bytes(3, "big") * 333)  # 999 bytes each
            cached = rig.emitter._hashed_bytes
            assert cached == sum(len(key) for key in rig.emitter._hashes)
            assert cached <= bound, f"{cached} bytes of keys cached after {index + 1} keys"


async def test_a_record_with_any_unencodable_header_name_is_refused_not_crashed() -> None:
    async with running() as rig:
        rig.submit("bad", headers=(("trace-\ud800", b"1"),))
        rig.submit("good")
        async with asyncio.timeout(1):
            while not rig.listener.crashes and rig.listener.acknowledged != ["good"]:
                await asyncio.sleep(0.001)
        assert rig.listener.crashes == []
        assert rig.listener.refused_tokens == ["bad"]
