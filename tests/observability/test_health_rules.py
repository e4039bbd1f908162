"""Readiness and liveness decisions (pure)."""

from __future__ import annotations

from typing import Any

from processor.telemetry.health import liveness_problem, readiness_problem

READY: dict[str, Any] = {
    "joined": True,
    "producer_started": True,
    "halted": None,
    "stopping": False,
}


def test_joined_with_a_started_producer_is_ready() -> None:
    assert readiness_problem(**READY) is None


def test_not_ready_before_the_group_is_joined() -> None:
    assert readiness_problem(**{**READY, "joined": False}) == "not joined to the consumer group yet"


def test_not_ready_before_the_producer_started() -> None:
    problem = readiness_problem(**{**READY, "producer_started": False, "joined": False})
    assert problem == "producer not started"


def test_a_halt_is_not_ready_and_says_why() -> None:
    problem = readiness_problem(**{**READY, "halted": "too many dead letters", "stopping": True})
    assert problem == "halted: too many dead letters"


def test_not_ready_while_stopping() -> None:
    assert readiness_problem(**{**READY, "stopping": True}) == "stopping"


def test_a_loop_that_wakes_on_time_is_alive() -> None:
    assert liveness_problem(lag_s=0.01, since_tick_s=0.4, interval_s=0.5, max_lag_s=10) is None


def test_a_late_loop_is_not_alive() -> None:
    problem = liveness_problem(lag_s=12.0, since_tick_s=0.1, interval_s=0.5, max_lag_s=10)
    assert problem == "event loop lag 12.0s"


def test_a_silent_probe_is_not_alive() -> None:
    problem = liveness_problem(lag_s=0.0, since_tick_s=30.0, interval_s=0.5, max_lag_s=10)
    assert problem == "loop probe silent for 30.0s"


def test_a_probe_that_never_ran_is_not_alive() -> None:
    problem = liveness_problem(lag_s=0.0, since_tick_s=None, interval_s=0.5, max_lag_s=10)
    assert problem == "loop probe not started"
