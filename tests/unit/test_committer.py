"""Committer: one commit at a time, offsets only forward, failures counted and never raised.

Runs against a fake consumer whose ``commit(offsets)`` the tests slow down, fail or hold. The fake
records when each commit was sent and when it landed (completed), since the group's committed
offset is whatever landed last.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    KafkaConnectionError,
    KafkaError,
    RebalanceInProgressError,
)
from aiokafka.structs import OffsetAndMetadata
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.engine.commit import Committer
from processor.engine.committime import committed_at
from processor.engine.offsets import OffsetTracker
from processor.engine.stats import Stats

TP0 = TopicPartition("payments", 0)
TP1 = TopicPartition("payments", 1)

Offsets = dict[TopicPartition, int]
Behaviour = Callable[[Offsets], Awaitable[None]]


@dataclass
class PositionState:
    position: int
    has_valid_position: bool = True


class FakeConsumer:
    """``commit`` runs the next scripted behaviour (slow, failing, held); the default lands."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Offsets]] = []  # ("sent" | "retry" | "landed", offsets)
        self.metadata: list[dict[TopicPartition, str]] = []  # each commit's, as sent
        self.script: deque[Behaviour] = deque()
        self.positions: dict[TopicPartition, int] = {}  # where reading goes on, when known
        self._subscription = self  # what the committer peeks at, as in aiokafka's consumer
        self.subscription = self
        self.assignment = self

    def state_value(self, tp: TopicPartition) -> PositionState | None:
        known = self.positions.get(tp)
        return None if known is None else PositionState(known)

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        sent = {tp: meta.offset for tp, meta in offsets.items()}
        self.metadata.append({tp: meta.metadata for tp, meta in offsets.items()})
        self.log.append(("sent", sent))
        if self.script:
            await self.script.popleft()(sent)
        self.log.append(("landed", sent))

    @property
    def sent(self) -> list[Offsets]:
        return [offsets for event, offsets in self.log if event == "sent"]

    @property
    def landed(self) -> list[Offsets]:
        return [offsets for event, offsets in self.log if event == "landed"]


class Partition:
    """A partition's tracker, with every offset before ``done_to`` taken in and done."""

    def __init__(self, done_to: int = 0) -> None:
        self.tracker = OffsetTracker()
        self.next = 0
        self.done_to(done_to)

    def done_to(self, end: int) -> None:
        for offset in range(self.next, end):
            self.tracker.track(offset)
            self.tracker.mark_done(offset)
        self.next = max(self.next, end)


def make_committer(
    consumer: FakeConsumer, partitions: dict[TopicPartition, Partition]
) -> tuple[Committer, dict[TopicPartition, OffsetTracker], Stats]:
    trackers = {tp: partition.tracker for tp, partition in partitions.items()}
    stats = Stats()
    # Intake's reading position: where the consumer reads next, as of the last whole poll.
    passed = lambda tp: consumer.positions.get(tp, 0)  # noqa: E731
    return Committer(consumer, trackers, stats, passed), trackers, stats


def raising(error: BaseException) -> Behaviour:
    async def behaviour(offsets: Offsets) -> None:
        raise error

    return behaviour


def sleeping(seconds: float) -> Behaviour:
    async def behaviour(offsets: Offsets) -> None:
        await asyncio.sleep(seconds)

    return behaviour


def non_decreasing_per_partition(commits: list[Offsets]) -> bool:
    last: dict[TopicPartition, int] = {}
    for offsets in commits:
        for tp, offset in offsets.items():
            if offset < last.get(tp, -1):
                return False
            last[tp] = offset
    return True


async def test_a_commit_sends_the_committable_offset_of_each_partition() -> None:
    consumer = FakeConsumer()
    committer, _, stats = make_committer(consumer, {TP0: Partition(5), TP1: Partition(3)})
    assert await committer.commit()
    assert consumer.sent == [{TP0: 5, TP1: 3}]
    assert committer.committed == {("payments", 0): 5, ("payments", 1): 3}
    assert stats.commits == 1


async def test_a_commit_carries_its_time_in_the_metadata_of_every_offset() -> None:
    consumer = FakeConsumer()
    committer, _, _ = make_committer(consumer, {TP0: Partition(5), TP1: Partition(3)})
    before = datetime.now(UTC)
    assert await committer.commit()
    [metadata] = consumer.metadata
    times = {committed_at(text) for text in metadata.values()}
    assert len(times) == 1
    [moment] = times
    assert moment is not None
    assert before - timedelta(milliseconds=1) <= moment <= datetime.now(UTC)


async def test_a_second_commit_waits_until_the_first_has_finished_including_its_retry() -> None:
    consumer = FakeConsumer()
    release = asyncio.Event()

    async def retried(offsets: Offsets) -> None:
        await asyncio.sleep(0.01)  # the first try failed; the client tries again
        consumer.log.append(("retry", offsets))
        await release.wait()

    consumer.script.append(retried)
    partition = Partition(5)
    committer, _, _ = make_committer(consumer, {TP0: partition})
    first = asyncio.create_task(committer.commit())
    await asyncio.sleep(0)
    partition.done_to(10)
    second = asyncio.create_task(committer.commit())
    await asyncio.sleep(0.03)
    assert consumer.sent == [{TP0: 5}]  # the second waits for the first
    release.set()
    assert await first
    assert await second
    assert consumer.log == [
        ("sent", {TP0: 5}),
        ("retry", {TP0: 5}),
        ("landed", {TP0: 5}),
        ("sent", {TP0: 10}),
        ("landed", {TP0: 10}),
    ]


async def test_an_older_commit_whose_retry_lands_after_a_newer_one_never_moves_the_group_back() -> (
    None
):
    consumer = FakeConsumer()
    consumer.script.append(sleeping(0.05))  # the older commit is slow: its retry lands late
    partitions = {TP0: Partition(5), TP1: Partition(2)}
    committer, _, _ = make_committer(consumer, partitions)
    revoke = asyncio.create_task(committer.commit({TP0, TP1}))
    await asyncio.sleep(0)
    partitions[TP0].done_to(10)
    partitions[TP1].done_to(4)
    periodic = asyncio.create_task(committer.commit())
    assert list(await asyncio.gather(revoke, periodic)) == [True, True]
    assert consumer.landed == [{TP0: 5, TP1: 2}, {TP0: 10, TP1: 4}]
    assert non_decreasing_per_partition(consumer.landed)


async def test_an_offset_at_or_below_the_last_one_committed_for_its_partition_is_never_sent() -> (
    None
):
    consumer = FakeConsumer()
    partitions = {TP0: Partition(10), TP1: Partition(4)}
    committer, trackers, _ = make_committer(consumer, partitions)
    assert await committer.commit()
    behind = Partition(7)  # a tracker whose committable offset is behind what was committed
    trackers[TP0] = behind.tracker
    partitions[TP1].done_to(6)
    assert await committer.commit()
    assert await committer.commit()  # nothing moved: nothing to send
    assert consumer.sent == [{TP0: 10, TP1: 4}, {TP1: 6}]
    assert committer.committed == {("payments", 0): 10, ("payments", 1): 6}


async def test_only_the_partitions_asked_for_are_committed() -> None:
    consumer = FakeConsumer()
    committer, _, _ = make_committer(consumer, {TP0: Partition(3), TP1: Partition(4)})
    assert await committer.commit({TP1})
    assert consumer.sent == [{TP1: 4}]


@pytest.mark.parametrize(
    "error",
    [CommitFailedError(), RebalanceInProgressError(), KafkaConnectionError("coordinator gone")],
    ids=["commit-failed", "rebalance", "connection"],
)
async def test_a_failed_commit_is_counted_and_returns_false_without_raising(
    error: KafkaError,
) -> None:
    consumer = FakeConsumer()
    consumer.script.append(raising(error))
    committer, _, stats = make_committer(consumer, {TP0: Partition(5)})
    assert await committer.commit() is False
    assert stats.commit_failures == 1
    assert stats.commits == 0
    assert committer.committed == {}
    assert await committer.commit()  # not recorded as committed, so it is sent again
    assert consumer.sent == [{TP0: 5}, {TP0: 5}]


async def test_a_failed_commit_does_not_hold_up_the_next_one() -> None:
    consumer = FakeConsumer()
    consumer.script.append(raising(CommitFailedError()))
    partition = Partition(5)
    committer, _, _ = make_committer(consumer, {TP0: partition})
    first = asyncio.create_task(committer.commit())
    partition.done_to(8)
    second = asyncio.create_task(committer.commit())
    assert list(await asyncio.gather(first, second)) == [False, True]
    assert consumer.landed == [{TP0: 8}]


async def test_a_halted_committer_commits_nothing() -> None:
    consumer = FakeConsumer()
    committer, _, _ = make_committer(consumer, {TP0: Partition(5)})
    committer.enabled = False
    assert await committer.commit() is False
    assert consumer.sent == []
    assert committer.committed == {}


async def test_a_committer_halted_while_a_commit_waits_does_not_send_it() -> None:
    consumer = FakeConsumer()
    consumer.script.append(sleeping(0.02))
    partition = Partition(5)
    committer, _, _ = make_committer(consumer, {TP0: partition})
    first = asyncio.create_task(committer.commit())
    await asyncio.sleep(0)
    partition.done_to(9)
    second = asyncio.create_task(committer.commit())
    await asyncio.sleep(0)
    committer.enabled = False  # the flood guard tripped meanwhile
    assert list(await asyncio.gather(first, second)) == [True, False]
    assert consumer.sent == [{TP0: 5}]


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 5), st.integers(0, 4), st.booleans()),
        min_size=1,
        max_size=8,
    ),
    seed=st.integers(0, 2**16),
)
def test_overlapping_commits_land_in_order_and_never_resend_a_committed_offset(
    steps: list[tuple[int, int, int, bool]], seed: int
) -> None:
    """However commits overlap, what lands per partition never goes back, and an offset already
    committed for a partition is never sent again."""

    async def scenario() -> list[tuple[str, Offsets]]:
        rng = random.Random(seed)
        consumer = FakeConsumer()
        partitions = {TP0: Partition(), TP1: Partition()}
        committer, _, _ = make_committer(consumer, partitions)

        async def ticks(offsets: Offsets) -> None:
            for _ in range(rng.randrange(6)):
                await asyncio.sleep(0)
            if rng.random() < 0.2:
                raise CommitFailedError()

        tasks: list[asyncio.Future[bool]] = []
        for advance0, advance1, pause, only_tp0 in steps:
            consumer.script.append(ticks)
            partitions[TP0].done_to(partitions[TP0].next + advance0)
            partitions[TP1].done_to(partitions[TP1].next + advance1)
            wanted = {TP0} if only_tp0 else None
            tasks.append(asyncio.ensure_future(committer.commit(wanted)))
            for _ in range(pause):
                await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        return consumer.log

    loop = asyncio.new_event_loop()  # its own loop: hypothesis calls this synchronously
    try:
        log = loop.run_until_complete(scenario())
    finally:
        loop.close()
    landed: dict[TopicPartition, int] = {}
    for event, offsets in log:
        for tp, offset in offsets.items():
            if event == "sent":
                assert offset > landed.get(tp, -1), f"{tp} {offset} sent after it landed"
            else:
                assert offset >= landed.get(tp, -1), f"{tp} moved back to {offset}"
                landed[tp] = offset


async def test_once_all_is_done_a_commit_goes_past_what_intake_passed_over() -> None:
    # Offsets 0-9 were records; 10 is a transaction marker the consumer passed over, never
    # handed out: the read position is 11.
    consumer = FakeConsumer()
    consumer.positions[TP0] = 11
    committer, _, _ = make_committer(consumer, {TP0: Partition(done_to=10)})
    await committer.commit()
    assert consumer.sent == [{TP0: 11}]


async def test_while_records_are_open_the_commit_stops_at_the_first_of_them() -> None:
    consumer = FakeConsumer()
    consumer.positions[TP0] = 11
    partition = Partition(done_to=5)
    partition.tracker.track(5)  # taken in, not done
    committer, _, _ = make_committer(consumer, {TP0: partition})
    await committer.commit()
    assert consumer.sent == [{TP0: 5}]


async def test_a_partition_that_never_had_a_record_is_not_committed() -> None:
    consumer = FakeConsumer()
    consumer.positions[TP0] = 0
    committer, _, _ = make_committer(consumer, {TP0: Partition(done_to=0)})
    assert await committer.commit()
    assert consumer.sent == []
