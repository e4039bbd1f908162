"""Pipelines used by tests that run the processor as a separate process."""

from __future__ import annotations

import asyncio

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
