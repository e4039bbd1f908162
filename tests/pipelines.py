"""Pipelines used by tests that run the processor as a separate process."""

from __future__ import annotations

import asyncio
import random

from processor.pipeline import Output, Source
from processor.pipelines.transactions import Transaction, TransactionsPipeline


class ThrottledPipeline(TransactionsPipeline):
    """The built-in pipeline at a few thousand records a second, so a test can act mid-stream."""

    async def route(self, record: Transaction, source: Source) -> Output:  # type: ignore[override]
        await asyncio.sleep(0.001)
        return super().route(record, source)


throttled = ThrottledPipeline()


class SluggishPipeline(TransactionsPipeline):
    """An async route of 20 ms: a stop always finds routes running."""

    async def route(self, record: Transaction, source: Source) -> Output:  # type: ignore[override]
        await asyncio.sleep(0.02)
        return super().route(record, source)


sluggish = SluggishPipeline()


class UnevenPipeline(TransactionsPipeline):
    """The built-in pipeline behind an async call of 0 to ``most_s``: records finish out of
    order, so holes open above the first unfinished offset of every partition."""

    def __init__(self, most_s: float, seed: int = 7) -> None:
        self.most_s = most_s
        self.rng = random.Random(seed)
        self.running = self.peak = 0

    async def route(self, record: Transaction, source: Source) -> Output:  # type: ignore[override]
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.rng.uniform(0, self.most_s))
        finally:
            self.running -= 1
        return super().route(record, source)
