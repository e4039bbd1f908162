"""Intake's handling of records it may not take in, with fakes for the consumer and scheduler."""

from __future__ import annotations

from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition

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
