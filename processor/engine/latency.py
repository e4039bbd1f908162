"""How long records take: a histogram filled per acknowledged record, read when scraped.

Per record it is a bisect and two additions into a plain list, where a prometheus-client
histogram would take a lock on the hot path.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable

# From the record's timestamp, so a backlog read hours later lands in the top buckets.
LATENCY_BUCKETS_S = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip


class LatencyHistogram:
    """Counts of observations per bucket (upper bounds inclusive), their sum and total."""

    __slots__ = ("_counts", "bounds_s", "count", "sum_s")

    def __init__(self, bounds_s: Iterable[float] = LATENCY_BUCKETS_S) -> None:
        self.bounds_s = tuple(sorted(bounds_s))
        self._counts = [0] * (len(self.bounds_s) + 1)  # the last one is +Inf
        self.sum_s = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(self.bounds_s, seconds)] += 1
        self.sum_s += seconds
        self.count += 1

    def observe_all_since(self, timestamps_ms: Iterable[int]) -> None:
        """Time from each record's timestamp until now, for records acknowledged together (one
        clock read, one call); clocks that disagree count as zero."""
        now_ms = time.time() * 1000
        counts, bounds = self._counts, self.bounds_s
        total, seen = 0.0, 0
        for timestamp_ms in timestamps_ms:
            if timestamp_ms > 0:
                seconds = max(now_ms - timestamp_ms, 0.0) / 1000
                counts[bisect_left(bounds, seconds)] += 1
                total += seconds
                seen += 1
        self.sum_s += total
        self.count += seen

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, observations <= le)`` per bucket, ending with ``("+Inf", count)``."""
        buckets, total = [], 0
        for bound, count in zip((*map(repr, self.bounds_s), "+Inf"), self._counts, strict=True):
            total += count
            buckets.append((bound, total))
        return buckets
