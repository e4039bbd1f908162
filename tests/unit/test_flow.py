"""FlowControl: intake pauses at the high watermark and resumes only at the low one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from processor.engine.flow import FlowControl


def decide(flow: FlowControl) -> None:
    """What intake does after each poll."""
    flow.transition()


class IntakeMachine(RuleBasedStateMachine):
    """Random polls (admitting at most ``room()``) and releases, checked after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.flow = FlowControl(max_records=1, max_bytes=1)

    @precondition(lambda self: self.flow.records == 0 and self.flow.bytes == 0)
    @rule(
        max_records=st.integers(min_value=1, max_value=20),
        max_bytes=st.integers(min_value=1, max_value=2_000),
        resume_ratio=st.sampled_from([0.0, 0.25, 0.5, 0.75, 0.9]),
    )
    def configure(self, max_records: int, max_bytes: int, resume_ratio: float) -> None:
        self.flow = FlowControl(max_records, max_bytes, resume_ratio)

    @rule(data=st.data())
    def poll(self, data: st.DataObject) -> None:
        flow = self.flow
        room = flow.room()
        count = data.draw(st.integers(min_value=0, max_value=room), label="count")
        for _ in range(count):
            flow.admit_many(1, data.draw(st.integers(min_value=0, max_value=300), label="size"))
        self.check_decision()

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        flow = self.flow
        records = data.draw(st.integers(min_value=0, max_value=flow.records), label="records")
        size = data.draw(st.integers(min_value=0, max_value=flow.bytes), label="bytes")
        flow.release(records, size)
        self.check_decision()

    def check_decision(self) -> None:
        flow = self.flow
        was_paused = flow.paused
        at_high = flow.records >= flow.max_records or flow.bytes >= flow.max_bytes
        at_low = (
            flow.records <= flow.max_records * flow.resume_ratio
            and flow.bytes <= flow.max_bytes * flow.resume_ratio
        )
        decide(flow)
        if not was_paused:
            assert flow.paused == at_high, "pauses exactly at the high watermark"
        else:
            assert flow.paused == (not at_low), "resumes only at the low watermark"

    @invariant()
    def never_both_paused_and_resumable(self) -> None:
        flow = self.flow
        assert not (flow.should_pause() and flow.should_resume())
        if flow.paused:
            assert not flow.should_resume()

    @invariant()
    def running_means_below_the_high_watermark(self) -> None:
        flow = self.flow
        if not flow.paused:
            assert flow.records < flow.max_records
            assert flow.bytes < flow.max_bytes

    @invariant()
    def admitted_records_never_exceed_capacity(self) -> None:
        assert self.flow.records <= self.flow.max_records
        assert self.flow.peak_records <= self.flow.max_records

    @invariant()
    def no_room_while_paused(self) -> None:
        if self.flow.paused:
            assert self.flow.room() == 0


TestIntakeMachine = IntakeMachine.TestCase
TestIntakeMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def test_pauses_when_records_reach_max_records() -> None:
    flow = FlowControl(max_records=3, max_bytes=1_000)
    flow.admit_many(1, 1)
    flow.admit_many(1, 1)
    assert not flow.should_pause()
    flow.admit_many(1, 1)
    assert flow.should_pause()


def test_pauses_when_bytes_reach_max_bytes() -> None:
    flow = FlowControl(max_records=100, max_bytes=10)
    flow.admit_many(1, 9)
    assert not flow.should_pause()
    flow.admit_many(1, 1)
    assert flow.should_pause()


def test_does_not_resume_until_both_counts_are_at_the_low_watermark() -> None:
    flow = FlowControl(max_records=10, max_bytes=100, resume_ratio=0.5)
    for _ in range(10):
        flow.admit_many(1, 10)
    flow.paused = True
    flow.release(5, 0)  # records at the low watermark, bytes still high
    assert not flow.should_resume()
    flow.release(0, 49)  # bytes at 51, just above 50
    assert not flow.should_resume()
    flow.release(0, 1)
    assert flow.should_resume()


def test_does_not_resume_just_below_the_high_watermark() -> None:
    flow = FlowControl(max_records=10, max_bytes=100, resume_ratio=0.5)
    for _ in range(10):
        flow.admit_many(1, 1)
    flow.paused = True
    flow.release(1, 1)
    assert not flow.should_resume()


def test_a_running_flow_is_never_resumable() -> None:
    flow = FlowControl(max_records=10, max_bytes=100)
    assert not flow.paused
    assert not flow.should_resume()


def test_room_is_zero_once_bytes_reach_capacity() -> None:
    flow = FlowControl(max_records=10, max_bytes=100)
    flow.admit_many(1, 100)
    assert flow.room() == 0


def test_room_is_the_records_left_below_capacity() -> None:
    flow = FlowControl(max_records=10, max_bytes=100)
    flow.admit_many(1, 1)
    flow.admit_many(1, 1)
    assert flow.room() == 8


def test_peak_records_remembers_the_highest_count() -> None:
    flow = FlowControl(max_records=10, max_bytes=100)
    for _ in range(4):
        flow.admit_many(1, 1)
    flow.release(3, 3)
    flow.admit_many(1, 1)
    assert flow.peak_records == 4


@given(
    max_records=st.integers(min_value=1, max_value=50),
    sizes=st.lists(st.integers(min_value=0, max_value=100), max_size=200),
)
def test_admitting_at_most_room_never_passes_max_records(
    max_records: int, sizes: list[int]
) -> None:
    flow = FlowControl(max_records=max_records, max_bytes=1_000_000)
    pending = list(sizes)
    while pending:
        room = flow.room()
        if room == 0:
            break
        for size in pending[:room]:
            flow.admit_many(1, size)
        del pending[:room]
        assert flow.records <= max_records


@pytest.mark.parametrize(
    ("max_records", "max_bytes", "resume_ratio"),
    [
        (0, 100, 0.5),
        (-1, 100, 0.5),
        (10, 0, 0.5),
        (10, -5, 0.5),
        (10, 100, 1.0),
        (10, 100, -0.1),
        (10, 100, 1.5),
    ],
)
def test_invalid_capacities_raise(max_records: int, max_bytes: int, resume_ratio: float) -> None:
    with pytest.raises(ValueError, match=r"capacity|resume_ratio"):
        FlowControl(max_records, max_bytes, resume_ratio)


def test_the_smallest_valid_capacity_is_accepted() -> None:
    flow = FlowControl(max_records=1, max_bytes=1, resume_ratio=0.0)
    assert flow.room() == 1


def test_admitting_a_whole_poll_counts_like_admitting_each_record() -> None:
    one_by_one = FlowControl(max_records=100, max_bytes=10_000)
    for size in (10, 20, 30):
        one_by_one.admit_many(1, size)
    at_once = FlowControl(max_records=100, max_bytes=10_000)
    at_once.admit_many(3, 60)
    assert (at_once.records, at_once.bytes, at_once.peak_records) == (
        one_by_one.records, one_by_one.bytes, one_by_one.peak_records,
    )  # fmt: skip


def test_a_transition_is_made_once_and_reported() -> None:
    flow = FlowControl(max_records=10, max_bytes=1_000, resume_ratio=0.5)
    flow.admit_many(10, 100)
    assert flow.transition() == "pause"
    assert flow.paused
    assert flow.transition() is None  # paused already
    flow.release(4, 40)
    assert flow.transition() is None  # 6 held: above the low watermark
    flow.release(1, 10)
    assert flow.transition() == "resume"
    assert not flow.paused
    assert flow.transition() is None
