"""Start, stop and check a single-node Apache Kafka broker (KRaft, broker and controller in one).

The broker runs detached from the command that started it, with its config, data, logs and pid
file under one directory, so ``processor broker up`` can return and ``down`` find it later.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from processor.broker.jars import BrokerError, ensure_jars
from processor.broker.settings import java_command, log4j_config, server_properties

__all__ = ["BrokerError", "BrokerStatus", "LocalBroker", "wait_until_ready"]


def default_home() -> Path:
    fallback = Path.home() / ".local" / "share" / "processor" / "broker"
    return Path(os.environ.get("PROCESSOR_BROKER_HOME", fallback))


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    home: Path

    def line(self) -> str:
        if self.running:
            return f"running pid={self.pid} bootstrap={self.bootstrap} home={self.home}"
        return f"not running home={self.home}"


@dataclass(frozen=True, slots=True)
class LocalBroker:
    home: Path = field(default_factory=default_home)
    port: int = 9092
    controller_port: int = 9093
    host: str = "127.0.0.1"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    def status(self) -> BrokerStatus:
        pid = self._live_pid()
        return BrokerStatus(pid is not None, pid, self.bootstrap, self.home)

    def up(self, timeout_s: float = 90) -> str:
        """Start the broker unless it runs already; return its bootstrap address when it answers."""
        if self._live_pid() is not None:
            wait_until_ready(self.bootstrap, timeout_s)
            return self.bootstrap
        for port in (self.port, self.controller_port):
            if _port_taken(self.host, port):
                raise BrokerError(
                    f"port {port} on {self.host} is already in use by another program"
                )
        libs = ensure_jars()
        config = self._write_config()
        self._format_once(libs, config)
        process = self._spawn(libs, config)
        self.pid_file.write_text(str(process.pid))
        self._wait_for(process, timeout_s)
        return self.bootstrap

    def down(self, timeout_s: float = 30) -> bool:
        """Stop the broker; False when it was not running."""
        pid = self._live_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _write_config(self) -> Path:
        config = self.home / "config"
        for folder in (config, self.home / "data", self.home / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        properties = server_properties(self.host, self.port, self.controller_port,
                                       self.home / "data")  # fmt: skip
        (config / "server.properties").write_text(properties)
        (config / "log4j2.properties").write_text(log4j_config(self.log_file))
        return config

    def _format_once(self, libs: Path, config: Path) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        tool = [*java_command(libs, config, heap_mb=128), "kafka.tools.StorageTool"]
        cluster_id = _run([*tool, "random-uuid"]).strip().splitlines()[-1]
        _run([*tool, "format", "-t", cluster_id, "-c", str(config / "server.properties"),
              "--ignore-formatted"])  # fmt: skip

    def _spawn(self, libs: Path, config: Path) -> subprocess.Popen[bytes]:
        command = [*java_command(libs, config), "kafka.Kafka", str(config / "server.properties")]
        with (self.home / "logs" / "broker.out").open("ab") as out:
            return subprocess.Popen(command, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                    start_new_session=True)  # fmt: skip

    def _wait_for(self, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise BrokerError(f"the broker exited during start: {self._log_tail()}")
            try:
                wait_until_ready(self.bootstrap, timeout_s=2)
                return
            except BrokerError:
                continue
        self.down()
        raise BrokerError(f"the broker did not answer within {timeout_s:.0f} s: {self._log_tail()}")

    def _live_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and _is_our_broker(pid, self.home) else None

    def _log_tail(self, lines: int = 5) -> str:
        for path in (self.home / "logs" / "broker.out", self.log_file):
            if path.exists() and path.stat().st_size:
                return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
        return "(no log output)"


def wait_until_ready(bootstrap: str, timeout_s: float) -> None:
    """Return once a metadata request answers at ``bootstrap``; BrokerError after ``timeout_s``."""

    async def probe() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
        finally:
            await admin.close()

    deadline = time.monotonic() + timeout_s
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)  # refused connections are expected while it starts
    try:
        while True:
            try:
                asyncio.run(probe())
                return
            except (KafkaError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise BrokerError(f"no Kafka broker answers at {bootstrap}: {exc!r}") from None
                time.sleep(0.5)
    finally:
        client_log.setLevel(level)


def _run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BrokerError(f"{command[-3:]} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not a running broker.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _is_our_broker(pid: int, home: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return True  # no /proc: trust the pid file
    return "kafka.Kafka" in cmdline and str(home) in cmdline


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0
