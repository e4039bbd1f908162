"""Assignments: what a finished record frees, and the rebalance transitions, in process.

A fake consumer stands in for aiokafka's (the committer only calls ``commit(offsets)``); the
records are taken in the way intake takes them in, through ``take_in``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping
from typing import cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from hypothesis import given
from hypothesis import strategies as st

from processor.engine.assignments import Assignments
from processor.engine.flow import FlowControl
from processor.engine.inflight import InFlight, take_in
from processor.engine.stats import Stats
from tests.records import FakeRecord

TP0 = TopicPartition("payments", 0)
TP1 = TopicPartition("payments", 1)


class FakeConsumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})


class Rig:
    def __init__(self, revoke_timeout_s: float = 1.0) -> None:
        self.consumer = FakeConsumer()
        self.flow = FlowControl(max_records=1000, max_bytes=1_000_000)
        self.stats = Stats()
        self.assignments = Assignments(
            cast(AIOKafkaConsumer, self.consumer), self.flow, self.stats, revoke_timeout_s
        )

    def take(
        self, tp: TopicPartition, offsets: range, value: bytes = b"0123456789"
    ) -> list[InFlight]:
        now_ms = int(time.time() * 1000)
        records = [
            FakeRecord(tp.topic, tp.partition, offset, None, value, [], now_ms)
            for offset in offsets
        ]
        tracker = self.assignments.tracker(tp)
        assert tracker is not None
        items, size = take_in(records, tracker)
        self.flow.admit_many(len(items), size)
        return items


def test_finishing_frees_the_window_and_the_bytes_and_observes_latency() -> None:
    rig = Rig()
    rig.assignments.assign({TP0})
    items = rig.take(TP0, range(5))
    assert (rig.flow.records, rig.flow.bytes) == (5, 50)
    rig.assignments.finish_all(items[1:])  # offset 0 holds the window
    assert (rig.flow.records, rig.flow.bytes) == (5, 10)
    rig.assignments.finish(items[0])
    assert (rig.flow.records, rig.flow.bytes) == (0, 0)
    assert rig.assignments.latency.count == 5
    assert rig.assignments.trackers[TP0].committable() == 5


@given(st.permutations(range(12)), st.integers(1, 12))
def test_whatever_the_order_of_acknowledgements_everything_is_freed(
    order: list[int], chunk: int
) -> None:
    rig = Rig()
    rig.assignments.assign({TP0})
    items = rig.take(TP0, range(12))
    for start in range(0, len(order), chunk):
        rig.assignments.finish_all([items[i] for i in order[start : start + chunk]])
        done = set(order[: start + chunk])
        first_open = min(set(range(12)) - done, default=12)
        assert rig.flow.records == 12 - first_open
    assert (rig.flow.records, rig.flow.bytes) == (0, 0)


class FakeQueue:
    """The scheduler's queue of records not started yet, holding ``queued``; ``asked`` notes
    each release it was asked for."""

    def __init__(self, queued: list[InFlight]) -> None:
        self.queued = list(queued)
        self.asked: list[dict[tuple[str, int], int]] = []

    def queued_offsets(
        self, partitions: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], set[int]]:
        found: dict[tuple[str, int], set[int]] = {where: set() for where in partitions}
        for item in self.queued:
            found.get((item.source.topic, item.source.partition), set()).add(item.source.offset)
        return found

    def release_queued(self, above: Mapping[tuple[str, int], int]) -> list[InFlight]:
        self.asked.append(dict(above))

        def goes(item: InFlight) -> bool:
            floor = above.get((item.source.topic, item.source.partition))
            return floor is not None and item.source.offset > floor

        released = [item for item in self.queued if goes(item)]
        self.queued = [item for item in self.queued if not goes(item)]
        return released


async def test_revoke_waits_for_every_record_taken_in_so_the_next_owner_redoes_none() -> None:
    rig = Rig()
    rig.assignments.assign({TP0, TP1})
    items = rig.take(TP0, range(4))
    kept = rig.take(TP1, range(2))
    rig.assignments.finish_all(items[3:])  # done out of order: a hole below it

    async def finish_the_rest_later() -> None:
        await asyncio.sleep(0.05)
        rig.assignments.finish_all(items[:3])

    late = asyncio.create_task(finish_the_rest_later())
    queue = FakeQueue([])  # all four started
    await rig.assignments.revoke({TP0}, queue)
    await late
    assert rig.consumer.commits == [{TP0: 4}]  # all of it: nothing done is read again
    assert queue.asked == [{("payments", 0): 3}]  # nothing queued above the highest started
    assert TP0 not in rig.assignments.trackers
    assert TP1 in rig.assignments.trackers
    assert items[0].tracker.revoked
    assert (rig.flow.records, rig.flow.bytes) == (2, 20)  # only TP1's records are held
    rig.assignments.finish_all(kept)
    assert (rig.flow.records, rig.flow.bytes) == (0, 0)


async def test_revoke_lets_go_of_the_queue_above_the_highest_started_and_fills_the_holes() -> None:
    rig = Rig()
    rig.assignments.assign({TP0})
    items = rig.take(TP0, range(6))
    rig.assignments.finish(items[0])  # 1 and 3 run; 2 waits behind 1's key; 4 and 5 are queued
    queue = FakeQueue([items[2], items[4], items[5]])

    async def finish_the_holes_later() -> None:
        await asyncio.sleep(0.05)
        rig.assignments.finish_all(items[1:4])

    late = asyncio.create_task(finish_the_holes_later())
    await rig.assignments.revoke({TP0}, queue)
    await late
    assert queue.asked == [{("payments", 0): 3}]  # at once, and only once
    assert rig.stats.released_on_revoke == 2
    assert rig.consumer.commits == [{TP0: 4}]  # through the highest started: none done above
    assert (rig.flow.records, rig.flow.bytes) == (0, 0)


async def test_past_the_revoke_timeout_queued_records_are_let_go_and_the_prefix_committed() -> None:
    rig = Rig(revoke_timeout_s=0.05)
    rig.assignments.assign({TP0})
    items = rig.take(TP0, range(4))
    rig.assignments.finish(items[0])
    rig.assignments.finish(items[2])  # offset 1 is in flight and never finishes in time
    queue = FakeQueue(items[3:])
    await rig.assignments.revoke({TP0}, queue)
    assert queue.asked == [{("payments", 0): 2}, {("payments", 0): -1}]
    assert rig.stats.released_on_revoke == 1
    assert rig.consumer.commits == [{TP0: 1}]
    assert (rig.flow.records, rig.flow.bytes) == (0, 10)  # offset 1's bytes until it ends
    rig.assignments.finish(items[1])
    assert (rig.flow.records, rig.flow.bytes) == (0, 0)


async def test_while_a_partition_is_revoked_intake_takes_nothing_more_in_for_it() -> None:
    rig = Rig()
    rig.assignments.assign({TP0})
    items = rig.take(TP0, range(2))
    seen: list[object] = []

    async def look_then_finish() -> None:
        await asyncio.sleep(0.01)
        seen.append(rig.assignments.tracker(TP0))
        rig.assignments.finish_all(items)

    looking = asyncio.create_task(look_then_finish())
    await rig.assignments.revoke({TP0}, FakeQueue([]))
    await looking
    assert seen == [None]
    rig.assignments.assign({TP0})
    assert rig.assignments.tracker(TP0) is not None


async def test_an_acknowledgement_after_the_revoke_frees_bytes_but_is_never_committed() -> None:
    rig = Rig(revoke_timeout_s=0.02)
    rig.assignments.assign({TP0})
    items = rig.take(TP0, range(3))
    rig.assignments.finish(items[0])
    await rig.assignments.revoke({TP0}, FakeQueue([]))  # offsets 1 and 2 are in flight
    assert rig.consumer.commits == [{TP0: 1}]
    assert (rig.flow.records, rig.flow.bytes) == (0, 20)
    observed = rig.assignments.latency.count
    rig.assignments.finish_all(items[1:])
    assert (rig.flow.records, rig.flow.bytes) == (0, 0)
    assert rig.assignments.latency.count == observed  # not this instance's records any more
    await rig.assignments.committer.commit()
    assert rig.consumer.commits == [{TP0: 1}]


async def test_a_new_assignment_starts_where_the_group_is_even_below_an_earlier_commit() -> None:
    rig = Rig()
    rig.assignments.assign({TP0})
    rig.assignments.finish_all(rig.take(TP0, range(10, 20)))
    await rig.assignments.committer.commit()
    first = rig.assignments.tracker(TP0)
    await rig.assignments.revoke({TP0}, FakeQueue([]))
    rig.assignments.assign({TP0})  # another member committed less meanwhile (it redid records)
    assert rig.assignments.tracker(TP0) is not first
    rig.assignments.finish_all(rig.take(TP0, range(5, 8)))
    await rig.assignments.committer.commit()
    assert rig.consumer.commits == [{TP0: 20}, {TP0: 8}]
    assert rig.stats.rebalances == 2
    assert rig.assignments.joined
