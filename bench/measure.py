"""Run one contender as a child process and measure it: peak RSS and CPU of its whole tree.

With psutil the tree (the process and its children, e.g. kcat's two processes) is sampled every
50 ms: RSS is summed over the tree, CPU is user+sys of every live process plus what its reaped
children used. Without psutil only ``wait4``'s totals are known: CPU over the whole life and the
largest single process's peak RSS, and the result says so.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLE_INTERVAL_S = 0.05

psutil: Any
try:  # the smoke test runs without the bench extras; import_module keeps mypy independent of it
    psutil = importlib.import_module("psutil")
except ImportError:
    psutil = None


@dataclass(slots=True)
class Sample:
    at: float  # time.time()
    cpu_s: float
    rss_bytes: int


@dataclass(slots=True)
class Measured:
    """What is known about a finished child process."""

    exit_code: int | None = None
    samples: list[Sample] = field(default_factory=list)
    total_cpu_s: float = 0.0  # whole life, from wait4 (includes reaped children)
    max_rss_bytes: int = 0  # wait4's ru_maxrss: largest single process
    sampled: bool = psutil is not None

    @property
    def peak_rss_bytes(self) -> int:
        # wait4's high-water mark also counts the harness's memory copied by fork before exec,
        # so it is only the fallback.
        if self.samples:
            return max(s.rss_bytes for s in self.samples)
        return self.max_rss_bytes

    def cpu_between(self, start: float, end: float) -> float | None:
        """CPU seconds used between two wall-clock times (None without samples around them)."""
        before = [s for s in self.samples if s.at <= start]
        after = [s for s in self.samples if s.at >= end]
        if not before or not after:
            return None
        return after[0].cpu_s - before[-1].cpu_s


def _tree_sample() -> Any:
    def sample(proc: Any) -> tuple[float, int]:
        cpu, rss = 0.0, 0
        for p in [proc, *proc.children(recursive=True)]:
            try:
                t = p.cpu_times()
                cpu += t.user + t.system + t.children_user + t.children_system
                rss += p.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return cpu, rss

    return sample


class Child:
    """A contender process, sampled until it exits."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
            )
        self.measured = Measured()
        self.exited = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        proc = psutil.Process(self.popen.pid) if psutil is not None else None
        sample = _tree_sample() if proc is not None else None
        while True:
            if proc is not None and sample is not None:
                try:
                    cpu, rss = sample(proc)
                    self.measured.samples.append(Sample(time.time(), cpu, rss))
                except psutil.NoSuchProcess:
                    pass
            # WNOHANG: returns at once; wait4 also gives the CPU of reaped grandchildren.
            pid, status, usage = os.wait4(self.popen.pid, os.WNOHANG)  # noqa: ASYNC222
            if pid:
                self.popen.returncode = os.waitstatus_to_exitcode(status)
                self.measured.exit_code = self.popen.returncode
                self.measured.total_cpu_s = usage.ru_utime + usage.ru_stime
                self.measured.max_rss_bytes = usage.ru_maxrss * 1024  # KiB on Linux
                if self.measured.samples:  # the last sample: everything it ever used
                    last = self.measured.samples[-1]
                    total = max(last.cpu_s, self.measured.total_cpu_s)
                    self.measured.samples.append(Sample(time.time(), total, 0))
                self.exited.set()
                return
            await asyncio.sleep(SAMPLE_INTERVAL_S)

    @property
    def running(self) -> bool:
        return not self.exited.is_set()

    async def finish(self, grace_s: float = 20.0, *, wait: bool = True) -> Measured:
        """Wait ``grace_s`` for it to exit by itself (unless not ``wait``), then SIGTERM, then
        SIGKILL."""
        steps = (None, signal.SIGTERM, signal.SIGKILL) if wait else (signal.SIGTERM, signal.SIGKILL)
        for signum in steps:
            if signum is not None and self.running:
                self.popen.send_signal(signum)
            try:
                await asyncio.wait_for(self.exited.wait(), grace_s)
                break
            except TimeoutError:
                continue
        await self._task
        return self.measured

    def log_tail(self, lines: int = 3) -> str:
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(line.strip() for line in text[-lines:])[-400:]
