"""What the example pipelines' broker tests share: a loop-lag probe and per-key order checks."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from typing import Any

from processor import headers as h
from tests.kafka_support import Sample, header


def event_ids_by_key(records: Iterable[Any]) -> dict[bytes | None, list[str]]:
    """The ``event-id`` of each output record, per key, in the order they were read."""
    found: dict[bytes | None, list[str]] = defaultdict(list)
    for record in records:
        found[record.key].append((header(record, h.EVENT_ID) or b"").decode())
    return dict(found)


def sample_ids_by_key(samples: Iterable[Sample]) -> dict[bytes | None, list[str]]:
    """The id of each input sample, per key, in the order they were produced."""
    found: dict[bytes | None, list[str]] = defaultdict(list)
    for sample in samples:
        found[sample.key].append(sample.test_id)
    return dict(found)


class LoopLag:
    """The latest the event loop woke from a short sleep, over a stretch of time."""

    def __init__(self) -> None:
        self.max_lag_s = 0.0


@contextlib.asynccontextmanager
async def loop_lag(interval_s: float = 0.005) -> AsyncIterator[LoopLag]:
    """Measure how late the running event loop wakes up while the block runs."""
    lag = LoopLag()
    loop = asyncio.get_running_loop()

    async def probe() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(interval_s)
            lag.max_lag_s = max(lag.max_lag_s, loop.time() - before - interval_s)

    task = asyncio.create_task(probe())
    try:
        yield lag
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
