"""Intake's handling of records it may not take in, with fakes for the consumer and scheduler."""

from __future__ import annotations

from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from processor.engine.emit import Backoff
from processor.engine.flow import FlowControl
from processor.engine.intake import Intake
from processor.engine.offsets import OffsetTracker
from processor.engine.scheduler import Scheduler
from processor.engine.stats import Stats
from tests.records import FakeRecord

TP = TopicPartition("payments", 0)


class FakeConsumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.seeks: list[tuple[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


class FakeScheduler:
    def __init__(self) -> None:
        self.put: list[Any] = []

    def put_many(self, items: list[Any]) -> None:
        self.put.extend(items)


def intake(consumer: FakeConsumer, tracker: OffsetTracker | None) -> tuple[Intake, FakeScheduler]:
    scheduler = FakeScheduler()
    made = Intake(
        cast(AIOKafkaConsumer, consumer),
        FlowControl(100, 10_000),
        lambda tp: tracker,
        cast(Scheduler, scheduler),
        Stats(),
        Backoff(0.01, 0.1),
        1024,
    )
    return made, scheduler


def records(first: int, count: int) -> list[FakeRecord]:
    return [
        FakeRecord(TP.topic, TP.partition, o, b"k", b"{}", [], 0)
        for o in range(first, first + count)
    ]


def test_records_of_a_partition_not_yet_held_are_read_again_not_skipped() -> None:
    consumer = FakeConsumer({TP})  # assigned, but the assignment callback has not run yet
    made, scheduler = intake(consumer, None)
    assert made._take(TP, records(40, 5)) == []
    assert consumer.seeks == [(TP, 40)]  # the consumer goes back: nothing is passed over
    assert scheduler.put == []


def test_records_of_a_partition_given_up_are_left_to_its_next_owner() -> None:
    consumer = FakeConsumer(set())
    made, scheduler = intake(consumer, None)
    assert made._take(TP, records(40, 5)) == []
    assert consumer.seeks == []
    assert scheduler.put == []


def test_records_of_a_held_partition_are_taken_in() -> None:
    tracker = OffsetTracker()
    made, scheduler = intake(FakeConsumer({TP}), tracker)
    assert len(made._take(TP, records(0, 3))) == 3
    assert len(scheduler.put) == 3
    assert tracker.in_flight == 3


# -- how far reading has passed over a partition: commits may go that far once all is done


class Positions:
    """aiokafka's subscription state as the intake reads it: where the consumer reads next."""

    def __init__(self) -> None:
        self.subscription = self
        self.assignment = self
        self.at: dict[TopicPartition, int] = {}

    def state_value(self, tp: TopicPartition) -> Any:
        class State:
            position = self.at.get(tp, 0)
            has_valid_position = tp in self.at

        return State()


class PollingConsumer(FakeConsumer):
    """Each poll runs the next scripted step: it may move the read position, return records,
    raise, or have the intake stopped meanwhile."""

    def __init__(self, steps: list[Any]) -> None:
        super().__init__({TP})
        self._subscription = Positions()
        self.steps = steps

    def paused(self) -> set[TopicPartition]:
        return set()

    async def getmany(self, *_: Any, **__: Any) -> dict[TopicPartition, list[FakeRecord]]:
        result: dict[TopicPartition, list[FakeRecord]] = self.steps.pop(0)(self)
        return result


def moves_to(position: int, returned: list[FakeRecord], stop: Intake | None = None) -> Any:
    def step(consumer: PollingConsumer) -> dict[TopicPartition, list[FakeRecord]]:
        consumer._subscription.at[TP] = position
        if stop is not None:
            stop.stop()
        return {TP: returned} if returned else {}

    return step


async def run_polls(steps: list[Any]) -> tuple[Intake, FakeScheduler]:
    consumer = PollingConsumer(steps)
    made, scheduler = intake(consumer, OffsetTracker())
    await made.run()
    return made, scheduler


async def test_a_whole_poll_passes_over_its_records_and_the_markers_after_them() -> None:
    steps: list[Any] = [moves_to(7, records(0, 5))]  # 5 and 6: transaction markers
    made, scheduler = intake(PollingConsumer(steps), OffsetTracker())
    steps.append(moves_to(7, [], stop=made))
    await made.run()
    assert len(scheduler.put) == 5
    assert made.passed(TP) == 7


async def test_a_poll_cut_short_by_a_stop_passes_over_nothing() -> None:
    # The records it returned are not taken in, so nothing may be committed past them, though
    # the consumer's position moved past them.
    steps: list[Any] = []
    made, scheduler = intake(PollingConsumer(steps), OffsetTracker())
    steps.append(moves_to(5, records(0, 5), stop=made))
    await made.run()
    assert scheduler.put == []
    assert made.passed(TP) == 0


async def test_a_failed_poll_passes_over_nothing() -> None:
    def fails(consumer: PollingConsumer) -> dict[TopicPartition, list[FakeRecord]]:
        consumer._subscription.at[TP] = 5  # moved past records it never returned
        raise KafkaConnectionError("the broker went away")

    steps: list[Any] = [fails]
    made, scheduler = intake(PollingConsumer(steps), OffsetTracker())
    steps.append(moves_to(5, [], stop=made))
    await made.run()
    assert scheduler.put == []
    assert made.passed(TP) == 0
