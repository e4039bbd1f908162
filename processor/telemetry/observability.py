"""How an operator sees the processor: the HTTP endpoints, the metrics registry, the summary line.

``/metrics`` (Prometheus text), ``/healthz`` (the event loop is responsive) and ``/readyz`` (joined
the group, producer started, not halted or stopping) on ``http_host:http_port``; a ``summary`` log
line every ``summary_interval_s``. It reads the processor through its view only, and whoever
runs a processor starts and stops it. Each has its own registry: tests run several.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from processor.config import Settings
from processor.engine.positions import total_lag
from processor.engine.view import EngineView
from processor.logs import get_logger
from processor.telemetry.health import LoopLagProbe, view_readiness
from processor.telemetry.http import (
    HEALTH_PATH,
    METRICS_CONTENT_TYPE,
    METRICS_PATH,
    READY_PATH,
    HttpServer,
    Response,
)
from processor.telemetry.metrics import ProcessorCollector

log = get_logger("processor.telemetry.observability")


@dataclass(slots=True)
class RateMeter:
    """Records per second between successive readings of a growing count."""

    count: int
    at_s: float

    def rate(self, count: int, now_s: float) -> float:
        elapsed_s = now_s - self.at_s
        per_s = (count - self.count) / elapsed_s if elapsed_s > 0 else 0.0
        self.count, self.at_s = count, now_s
        return per_s


class Telemetry:
    """The HTTP server (metrics, health, readiness), the loop probe and the summary line of one
    long-lived command: its subclass adds its collectors to the registry, and says what ready
    means and what a summary holds."""

    def __init__(self, view: Any, settings: Settings) -> None:
        self._view = view  # what the subclass reports on; its ``stats.consumed`` paces the summary
        self._summary_interval_s = settings.summary_interval_s
        self.probe = LoopLagProbe()
        self.registry = CollectorRegistry()
        routes = {METRICS_PATH: self.metrics, HEALTH_PATH: self.healthz, READY_PATH: self.readyz}
        self.server = (
            HttpServer(routes, settings.http_host, settings.http_port, settings.http_unix_socket)
            if settings.http_port or settings.http_unix_socket
            else None
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        interval_s = self._summary_interval_s
        if interval_s > 0:
            self._spawn(self._summarise_every(interval_s))
        if self.server is not None:
            self._spawn(self.probe.run())
            await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def metrics(self) -> Response:
        return Response(200, generate_latest(self.registry), METRICS_CONTENT_TYPE)

    def healthz(self) -> Response:
        problem = self.probe.problem(asyncio.get_running_loop().time())
        return probe_response(problem, f"ok (loop lag {self.probe.lag_s:.3f}s)")

    def readyz(self) -> Response:
        raise NotImplementedError

    def summary(self, meter: RateMeter) -> dict[str, Any]:
        raise NotImplementedError

    async def _summarise_every(self, interval_s: float) -> None:
        meter = RateMeter(self._view.stats.consumed, asyncio.get_running_loop().time())
        while True:
            await asyncio.sleep(interval_s)
            log.info("summary", **self.summary(meter))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro))


class Observability(Telemetry):
    """Starts and stops the HTTP server, the loop probe and the summary line of one processor."""

    def __init__(self, view: EngineView, settings: Settings) -> None:
        super().__init__(view, settings)
        self._view: EngineView = view
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)
        self.registry.register(ProcessorCollector(view, self.probe))

    def readyz(self) -> Response:
        return probe_response(view_readiness(self._view), "ready")

    def summary(self, meter: RateMeter) -> dict[str, Any]:
        """The fields of one ``summary`` line; advances ``meter``."""
        p = self._view
        now_s = asyncio.get_running_loop().time()
        positions = p.positions()
        return {
            "rate_per_s": round(meter.rate(p.stats.consumed, now_s), 1),
            "lag": total_lag(positions),
            "queue_records": p.flow.records,
            "paused": p.flow.paused,
            "partitions": len(positions),
        }


def probe_response(problem: str | None, ok: str) -> Response:
    if problem is None:
        return Response(200, f"{ok}\n".encode())
    return Response(503, f"{problem}\n".encode())
