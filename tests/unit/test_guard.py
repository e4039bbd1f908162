"""DeadLetterGuard: halt when more than ``max_ratio`` of the last ``window`` outcomes failed."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.engine.guard import DeadLetterGuard


def feed(guard: DeadLetterGuard, outcomes: list[bool]) -> bool:
    tripped = False
    for dead_letter in outcomes:
        tripped = guard.observe(dead_letter)
    return tripped


def test_trips_once_dead_letters_exceed_the_ratio_of_the_window() -> None:
    guard = DeadLetterGuard(window=10, max_ratio=0.5)
    assert not feed(guard, [True] * 5)
    assert guard.observe(True)
    assert guard.tripped


def test_does_not_trip_at_exactly_the_ratio() -> None:
    guard = DeadLetterGuard(window=10, max_ratio=0.5)
    assert not feed(guard, [True, False] * 10)
    assert guard.dead_letters_in_window == 5
    assert not guard.tripped


def test_a_fresh_guard_counts_against_the_full_window() -> None:
    guard = DeadLetterGuard(window=100, max_ratio=0.1)
    assert not feed(guard, [True] * 10)
    assert guard.observe(True)


def test_old_outcomes_slide_out_of_the_window() -> None:
    guard = DeadLetterGuard(window=4, max_ratio=0.5)
    feed(guard, [True, True, False, False])
    assert guard.dead_letters_in_window == 2
    guard.observe(False)  # the first dead letter leaves the window
    assert guard.dead_letters_in_window == 1
    guard.observe(True)  # the second one leaves, a new one enters
    assert guard.dead_letters_in_window == 1
    assert not guard.tripped


def test_spread_out_dead_letters_never_trip() -> None:
    guard = DeadLetterGuard(window=10, max_ratio=0.3)
    assert not feed(guard, ([True] * 3 + [False] * 7) * 50)


def test_stays_tripped_after_good_outcomes() -> None:
    guard = DeadLetterGuard(window=2, max_ratio=0.5)
    feed(guard, [True, True])
    assert guard.tripped
    assert feed(guard, [False] * 10)
    assert guard.dead_letters_in_window == 0


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=0, max_value=500))
def test_a_ratio_of_one_never_trips(window: int, outcomes: int) -> None:
    guard = DeadLetterGuard(window=window, max_ratio=1.0)
    assert not feed(guard, [True] * outcomes)


@given(
    window=st.integers(min_value=1, max_value=30),
    max_ratio=st.sampled_from([0.1, 0.25, 0.5, 0.75, 0.9, 1.0]),
    outcomes=st.lists(st.booleans(), max_size=120),
)
def test_trips_exactly_when_a_window_held_more_than_the_ratio(
    window: int, max_ratio: float, outcomes: list[bool]
) -> None:
    # Ratios whose product with the window has no binary rounding trouble in the limit.
    guard = DeadLetterGuard(window=window, max_ratio=max_ratio)
    limit = Fraction(max_ratio) * window
    expected = False
    for index, dead_letter in enumerate(outcomes):
        recent = outcomes[max(0, index + 1 - window) : index + 1]
        expected = expected or sum(recent) > limit
        assert guard.observe(dead_letter) == expected
        assert guard.dead_letters_in_window == sum(recent)


@pytest.mark.parametrize(("window", "max_ratio"), [(100, 0.57), (100, 0.29), (100, 0.58)])
def test_does_not_trip_at_exactly_a_decimal_ratio(window: int, max_ratio: float) -> None:
    guard = DeadLetterGuard(window=window, max_ratio=max_ratio)
    at_ratio = round(window * max_ratio)
    assert not feed(guard, [True] * at_ratio)


@pytest.mark.parametrize("window", [0, -1])
def test_a_window_below_one_raises(window: int) -> None:
    with pytest.raises(ValueError, match="window"):
        DeadLetterGuard(window=window)


@pytest.mark.parametrize("max_ratio", [0.0, -0.5, 1.01, 2.0])
def test_a_ratio_outside_zero_to_one_raises(max_ratio: float) -> None:
    with pytest.raises(ValueError, match="max_ratio"):
        DeadLetterGuard(max_ratio=max_ratio)
