"""The processor as operators run it: a separate process, stopped by signals."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from processor.config import Settings

ROOT = Path(__file__).resolve().parents[1]


class ProcessorProcess:
    """``python -m processor run`` for one test, logging (JSON lines) to ``log``."""

    def __init__(self, settings: Settings, log: Path, *extra: str, name: str = "") -> None:
        self.settings, self.log, self.extra, self.name = settings, log, extra, name
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ProcessorProcess:
        s = self.settings
        # Several processors share this machine: no metrics port for any of them. One process,
        # not a supervisor: its PID is the processor's, for the signals a test sends it
        # (``--processes`` in ``extra`` beats this).
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PROCESSOR_LOG_FORMAT": "json",
               "PROCESSOR_HTTP_PORT": "0", "PROCESSOR_PROCESSES": "1"}  # fmt: skip
        command = [
            sys.executable, "-m", "processor", "run",
            "--bootstrap-servers", s.bootstrap_servers, "--input-topic", s.input_topic,
            "--group-id", s.group_id, "--commit-interval-ms", str(s.commit_interval_ms),
            "--queue-max-records", str(s.queue_max_records),
            *self.extra,
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        return self

    async def stop(self, signum: int, timeout_s: float = 60) -> int:
        """Send ``signum`` and wait for the exit status."""
        assert self.process is not None
        self.process.send_signal(signum)
        return await asyncio.to_thread(self.process.wait, timeout_s)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None
