"""Liveness and readiness: is the event loop responsive, and is this instance doing its job.

A blocked event loop starves the consumer's heartbeats too, so liveness measures how late the
loop wakes a sleeping task rather than only answering (a stuck loop cannot answer at all).
"""

from __future__ import annotations

import asyncio

from processor.engine.view import EngineView

PROBE_INTERVAL_S = 0.5
# Far below the session timeout: a loop this late is sick before the group notices.
MAX_LOOP_LAG_S = 10.0


class LoopLagProbe:
    """Sleeps ``interval_s`` at a time and remembers how much later than asked it woke."""

    def __init__(self, interval_s: float = PROBE_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.lag_s = 0.0
        self.last_tick_s: float | None = None  # event-loop time of the last wake-up

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.last_tick_s = loop.time()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval_s)
            now = loop.time()
            self.lag_s = max(now - before - self.interval_s, 0.0)
            self.last_tick_s = now

    def problem(self, now_s: float, max_lag_s: float = MAX_LOOP_LAG_S) -> str | None:
        """Why the loop is not healthy at loop time ``now_s``, or None when it is."""
        return liveness_problem(
            lag_s=self.lag_s,
            since_tick_s=None if self.last_tick_s is None else now_s - self.last_tick_s,
            interval_s=self.interval_s,
            max_lag_s=max_lag_s,
        )


def liveness_problem(
    *, lag_s: float, since_tick_s: float | None, interval_s: float, max_lag_s: float
) -> str | None:
    if since_tick_s is None:
        return "loop probe not started"
    if since_tick_s > interval_s + max_lag_s:
        return f"loop probe silent for {since_tick_s:.1f}s"
    if lag_s > max_lag_s:
        return f"event loop lag {lag_s:.1f}s"
    return None


def readiness_problem(
    *,
    joined: bool,
    producer_started: bool,
    halted: str | None,
    stopping: bool,
    trouble: str | None = None,
) -> str | None:
    """Why the instance is not ready, or None when it is (the first reason that applies).

    ``trouble`` is what keeps it from its job right now: a start-up wait, an output it cannot
    write to, a partition held by a record it cannot read.
    """
    if halted is not None:
        return f"halted: {halted}"
    if stopping:
        return "stopping"
    if trouble is not None:
        return trouble
    if not producer_started:
        return "producer not started"
    if not joined:
        return "not joined to the consumer group yet"
    return None


def view_readiness(view: EngineView) -> str | None:
    return readiness_problem(
        joined=view.joined,
        producer_started=view.producer_started,
        halted=view.halted,
        stopping=view.stopping,
        trouble=view.trouble,
    )
