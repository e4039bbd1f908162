"""Backoff: exponential delays with full jitter, never above the cap."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.engine.emit import Backoff


@given(
    base_s=st.floats(min_value=0.001, max_value=5.0),
    max_s=st.floats(min_value=0.001, max_value=60.0),
    attempt=st.integers(min_value=0, max_value=10_000),
)
def test_a_delay_is_between_zero_and_the_cap(base_s: float, max_s: float, attempt: int) -> None:
    delay = Backoff(base_s, max_s).delay_s(attempt)
    assert 0.0 <= delay <= max_s
    assert delay <= base_s * 2 ** min(attempt, 30)


def test_the_ceiling_doubles_with_each_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    backoff = Backoff(base_s=0.1, max_s=100.0)
    assert [backoff.delay_s(attempt) for attempt in range(4)] == pytest.approx([0.1, 0.2, 0.4, 0.8])


def test_the_ceiling_stops_at_max(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert Backoff(base_s=0.2, max_s=10.0).delay_s(50) == 10.0


def test_a_huge_attempt_number_does_not_overflow() -> None:
    assert 0.0 <= Backoff(base_s=0.2, max_s=10.0).delay_s(10**9) <= 10.0


def test_delays_are_jittered() -> None:
    backoff = Backoff(base_s=1.0, max_s=10.0)
    assert len({backoff.delay_s(3) for _ in range(20)}) > 1
