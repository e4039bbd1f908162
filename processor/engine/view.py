"""What the engine shows the outside: a read-only view, so telemetry never needs the engine.

Metrics, probes and the summary line read a running processor through this protocol alone;
``Processor`` satisfies it. The engine never imports telemetry, and telemetry imports nothing of
the engine but this module and the plain values it names.
"""

from __future__ import annotations

from typing import Protocol

from processor.engine.flow import FlowControl
from processor.engine.latency import LatencyHistogram
from processor.engine.positions import PartitionPosition
from processor.engine.stats import Stats


class EngineView(Protocol):
    """A running processor as telemetry sees it (read it, never change it)."""

    @property
    def stats(self) -> Stats: ...
    @property
    def flow(self) -> FlowControl: ...
    @property
    def latency(self) -> LatencyHistogram: ...
    @property
    def dead_letter_topic(self) -> str: ...
    @property
    def pending_writes(self) -> int:
        """Records handed to the producer and not yet acknowledged."""
        ...

    @property
    def paused_partitions(self) -> int: ...
    def positions(self) -> list[PartitionPosition]:
        """Each assigned input partition: committed offset, high watermark, lag."""
        ...

    # Readiness.
    @property
    def joined(self) -> bool: ...
    @property
    def producer_started(self) -> bool: ...
    @property
    def halted(self) -> str | None: ...
    @property
    def stopping(self) -> bool: ...
    @property
    def trouble(self) -> str | None: ...
