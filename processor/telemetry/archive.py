"""How an operator sees ``processor archive``: its metrics, probes and summary line.

The same conventions as ``processor run`` (:mod:`processor.telemetry.observability`): ``/metrics``,
``/healthz`` and ``/readyz`` on ``http_host:http_port``, a ``summary`` line every
``summary_interval_s``, everything read from the archiver's view when asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from processor.archive.view import ArchiveView
from processor.config import Settings
from processor.engine.positions import total_lag
from processor.logs import get_logger
from processor.telemetry import names
from processor.telemetry.health import LoopLagProbe
from processor.telemetry.http import (
    Response,
)
from processor.telemetry.metrics import metric_family
from processor.telemetry.observability import RateMeter, Telemetry, probe_response

log = get_logger("processor.telemetry.archive")


def archive_readiness(view: ArchiveView) -> str | None:
    """Why the archiver is not ready, or None: stopping, a write failing, not joined yet."""
    if view.stopping:
        return "stopping"
    if view.trouble is not None:
        return view.trouble
    if not view.joined:
        return "not joined to the consumer group yet"
    return None


class ArchiveCollector(Collector):
    """Every metric of :data:`processor.telemetry.names.ARCHIVE_METRICS`, read at scrape time."""

    def __init__(self, view: ArchiveView, probe: LoopLagProbe) -> None:
        self._view, self._probe = view, probe

    def collect(self) -> Iterator[Metric]:
        v, stats = self._view, self._view.stats
        yield metric_family(names.ARCHIVE_RECORDS_CONSUMED, stats.consumed)
        for metric, counts in (
            (names.ARCHIVE_FILES, stats.files),
            (names.ARCHIVE_ROWS, stats.rows),
            (names.ARCHIVE_INVALID_ROWS, stats.invalid_rows),
            (names.ARCHIVE_BYTES, stats.file_bytes),
        ):
            family = metric_family(metric)
            for topic, count in sorted(counts.items()):
                family.add_metric([topic], count)
            yield family
        yield metric_family(names.ARCHIVE_WRITE_FAILURES, stats.write_failures)
        yield metric_family(names.ARCHIVE_COMMITS, stats.commits)
        yield metric_family(names.ARCHIVE_COMMIT_FAILURES, stats.commit_failures)
        yield metric_family(names.ARCHIVE_REBALANCES, stats.rebalances)
        yield metric_family(names.ARCHIVE_PAUSES, stats.pauses)
        yield metric_family(names.ARCHIVE_HELD_RECORDS, v.held_records)
        yield metric_family(names.ARCHIVE_HELD_BYTES, v.held_bytes)
        yield metric_family(names.ARCHIVE_CAPACITY_BYTES, v.max_held_bytes)
        yield metric_family(names.ARCHIVE_PAUSED, v.paused)
        lag = metric_family(names.ARCHIVE_LAG)
        for position in v.positions():
            if position.lag is not None:
                lag.add_metric([position.tp.topic, str(position.tp.partition)], position.lag)
        yield lag
        last = stats.last_file_at_s
        # No sample before the first file: an age of nothing is not a number.
        age = metric_family(
            names.ARCHIVE_LAST_FILE_AGE, None if last is None else time.time() - last
        )
        yield age
        yield metric_family(names.READY, archive_readiness(v) is None)
        yield metric_family(names.EVENT_LOOP_LAG, self._probe.lag_s)


class ArchiveObservability(Telemetry):
    """Starts and stops the HTTP server, the loop probe and the summary line of one archiver."""

    def __init__(self, view: ArchiveView, settings: Settings) -> None:
        super().__init__(view, settings)
        self._view: ArchiveView = view
        ProcessCollector(registry=self.registry)
        self.registry.register(ArchiveCollector(view, self.probe))

    def readyz(self) -> Response:
        return probe_response(archive_readiness(self._view), "ready")

    def summary(self, meter: RateMeter) -> dict[str, Any]:
        """The fields of one ``summary`` line; advances ``meter``."""
        v, stats = self._view, self._view.stats
        positions = v.positions()
        now_s = asyncio.get_running_loop().time()
        return {
            "rate_per_s": round(meter.rate(stats.consumed, now_s), 1),
            "lag": total_lag(positions),
            "files": sum(stats.files.values()),
            "rows": sum(stats.rows.values()),
            "invalid_rows": sum(stats.invalid_rows.values()),
            "held_records": v.held_records,
            "paused": v.paused,
            "partitions": len(positions),
        }
