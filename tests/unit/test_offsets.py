"""OffsetTracker: the committed offset only ever passes records that are finished."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.engine.offsets import OffsetTracker


@st.composite
def increasing_offsets(draw: st.DrawFn) -> list[int]:
    """A strictly increasing offset sequence with gaps (compaction, transaction markers)."""
    start = draw(st.integers(min_value=0, max_value=10_000))
    gaps = draw(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=40))
    offsets = [start]
    for gap in gaps[1:]:
        offsets.append(offsets[-1] + gap)
    return offsets


@st.composite
def offsets_and_completions(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Offsets, and some of them (maybe all) in an arbitrary completion order."""
    offsets = draw(increasing_offsets())
    order = draw(st.permutations(offsets))
    finished = draw(st.integers(min_value=0, max_value=len(order)))
    return offsets, list(order[:finished])


@st.composite
def offsets_and_full_completion(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    offsets = draw(increasing_offsets())
    return offsets, list(draw(st.permutations(offsets)))


def tracking(offsets: list[int]) -> OffsetTracker:
    tracker = OffsetTracker()
    for offset in offsets:
        tracker.track(offset)
    return tracker


def test_committable_is_none_before_anything_is_tracked() -> None:
    assert OffsetTracker().committable() is None


def test_committable_is_the_first_offset_while_it_is_unfinished() -> None:
    tracker = tracking([5, 6, 7])
    tracker.mark_done(6)
    tracker.mark_done(7)
    assert tracker.committable() == 5


@given(offsets_and_completions())
def test_committable_never_passes_an_unfinished_offset(
    case: tuple[list[int], list[int]],
) -> None:
    offsets, completions = case
    tracker = tracking(offsets)
    unfinished = set(offsets)
    for offset in completions:
        tracker.mark_done(offset)
        unfinished.discard(offset)
        committable = tracker.committable()
        assert committable is not None
        if unfinished:
            assert committable <= min(unfinished)


@given(offsets_and_completions())
def test_committable_is_exactly_the_first_unfinished_offset(
    case: tuple[list[int], list[int]],
) -> None:
    offsets, completions = case
    tracker = tracking(offsets)
    for offset in completions:
        tracker.mark_done(offset)
    unfinished = sorted(set(offsets) - set(completions))
    expected = unfinished[0] if unfinished else offsets[-1] + 1
    assert tracker.committable() == expected


@given(offsets_and_full_completion())
def test_committable_is_one_past_the_last_offset_when_all_are_done(
    case: tuple[list[int], list[int]],
) -> None:
    offsets, completions = case
    tracker = tracking(offsets)
    for offset in completions:
        tracker.mark_done(offset)
    assert tracker.committable() == offsets[-1] + 1
    assert tracker.window == 0
    assert tracker.in_flight == 0


@given(offsets_and_completions())
def test_committable_never_moves_backwards_as_completions_arrive(
    case: tuple[list[int], list[int]],
) -> None:
    offsets, completions = case
    tracker = tracking(offsets)
    previous = tracker.committable()
    assert previous == offsets[0]
    for offset in completions:
        tracker.mark_done(offset)
        current = tracker.committable()
        assert current is not None
        assert current >= previous
        previous = current


@given(offsets_and_completions())
def test_offsets_leaving_the_window_plus_the_window_equal_the_offsets_tracked(
    case: tuple[list[int], list[int]],
) -> None:
    offsets, completions = case
    tracker = tracking(offsets)
    left = 0
    for offset in completions:
        left += tracker.mark_done(offset)
        assert left + tracker.window == len(offsets)


@given(offsets_and_completions())
def test_in_flight_counts_the_tracked_offsets_not_yet_done(
    case: tuple[list[int], list[int]],
) -> None:
    offsets, completions = case
    tracker = tracking(offsets)
    for offset in completions:
        tracker.mark_done(offset)
    assert tracker.in_flight == len(offsets) - len(completions)


@given(offsets_and_completions(), st.integers(min_value=-5, max_value=20_000))
def test_marking_an_unknown_offset_returns_zero_and_changes_nothing(
    case: tuple[list[int], list[int]], unknown: int
) -> None:
    offsets, completions = case
    if unknown in offsets:
        unknown = offsets[-1] + 1
    tracker = tracking(offsets)
    for offset in completions:
        tracker.mark_done(offset)
    before = (tracker.committable(), tracker.window, tracker.in_flight)
    assert tracker.mark_done(unknown) == 0
    assert (tracker.committable(), tracker.window, tracker.in_flight) == before


@given(offsets_and_completions())
def test_marking_an_offset_done_twice_returns_zero_and_changes_nothing(
    case: tuple[list[int], list[int]],
) -> None:
    offsets, completions = case
    tracker = tracking(offsets)
    for offset in completions:
        tracker.mark_done(offset)
    before = (tracker.committable(), tracker.window, tracker.in_flight)
    for offset in completions:
        assert tracker.mark_done(offset) == 0
    assert (tracker.committable(), tracker.window, tracker.in_flight) == before


@given(increasing_offsets(), st.integers(min_value=0, max_value=5))
def test_tracking_an_offset_not_above_the_last_one_raises(offsets: list[int], back: int) -> None:
    tracker = tracking(offsets)
    before = (tracker.committable(), tracker.window, tracker.in_flight)
    with pytest.raises(ValueError, match="tracked after"):
        tracker.track(offsets[-1] - back)
    assert (tracker.committable(), tracker.window, tracker.in_flight) == before


def test_tracking_after_all_are_done_opens_the_window_again() -> None:
    tracker = tracking([0, 1])
    tracker.mark_done(0)
    tracker.mark_done(1)
    tracker.track(4)
    assert tracker.committable() == 4
    assert tracker.window == 1


def test_a_new_tracker_is_not_revoked() -> None:
    assert OffsetTracker().revoked is False


@given(
    taken=st.lists(st.integers(0, 40), unique=True, max_size=25).map(sorted),
    data=st.data(),
)
def test_the_highest_started_offset_is_the_highest_taken_in_and_not_queued(
    taken: list[int], data: st.DataObject
) -> None:
    tracker = OffsetTracker()
    for offset in taken:
        tracker.track(offset)
    done = data.draw(st.sets(st.sampled_from(taken)) if taken else st.just(set[int]()))
    for offset in done:
        tracker.mark_done(offset)
    open_offsets = [offset for offset in taken if offset not in done]
    queued = data.draw(st.sets(st.sampled_from(open_offsets)) if open_offsets else st.just(set()))

    highest = tracker.highest_started(queued)

    started = [offset for offset in taken if offset not in queued]
    # Nothing started lies above it: what is above it is all queued, and may be let go.
    assert all(offset <= highest for offset in started)
    assert all(offset in queued for offset in taken if offset > highest)
    # And no queued record is kept for nothing: none lies between the highest started and it.
    floor = max(started, default=-1)
    assert not [offset for offset in taken if floor < offset <= highest]
