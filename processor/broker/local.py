"""Start, stop and check a single-node Apache Kafka broker (KRaft, broker and controller in one).

The broker runs detached from the command that started it, with its config, data, logs and pid
file under one directory, so ``processor broker up`` can return and ``down`` find it later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from processor.broker.jars import KAFKA_VERSION, BrokerError, ensure_jars
from processor.broker.settings import (
    MIN_JAVA_VERSION,
    java_command,
    java_path,
    log4j_config,
    server_properties,
)

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "BrokerStatus",
    "LocalBroker",
    "default_home",
    "wait_until_ready",
]

_ATTEMPT_TIMEOUT_S = 3.0
_RETRY_PAUSE_S = 0.5
_KILL_GRACE_S = 5.0
_MAX_LINE = 400
_STACK_FRAME = re.compile(r"^(at |\.\.\. \d+ more)")
_PROBLEM = re.compile(r"\b(ERROR|FATAL)\b|Exception|Error\b")

Progress = Callable[[str], None]

# Brokers this process started: kept so that ``down`` can reap them (no zombies, no warnings).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _no_progress(message: str) -> None:
    """Progress sink for callers that want none."""


def default_home() -> Path:
    """``$PROCESSOR_BROKER_HOME``, else ``~/.local/share/processor/broker``."""
    fallback = Path.home() / ".local" / "share" / "processor" / "broker"
    return Path(os.environ.get("PROCESSOR_BROKER_HOME") or fallback)


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    """What :meth:`LocalBroker.status` found."""

    running: bool
    pid: int | None
    bootstrap: str
    home: Path

    def line(self) -> str:
        """One line for people and scripts: ``running pid=… bootstrap=… home=…``."""
        if self.running:
            return f"running pid={self.pid} bootstrap={self.bootstrap} home={self.home}"
        return f"not running home={self.home}"


@dataclass(frozen=True, slots=True)
class LocalBroker:
    """A Kafka broker whose config, data, logs and pid file live in ``home``."""

    home: Path = field(default_factory=default_home)
    port: int = 9092
    controller_port: int = 9093
    host: str = "127.0.0.1"
    # Broker settings over ours (``server.properties`` keys), applied when it starts.
    overrides: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # The broker is recognised by this path in its command line, so spell it one way only.
        object.__setattr__(self, "home", Path(self.home).expanduser().absolute())

    @property
    def bootstrap(self) -> str:
        """The client address, ``host:port``."""
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        """The broker's own log (log4j, INFO)."""
        return self.home / "logs" / "server.log"

    @property
    def console_file(self) -> Path:
        """The JVM's stdout and stderr."""
        return self.home / "logs" / "broker.out"

    @property
    def _properties_file(self) -> Path:
        return self.home / "config" / "server.properties"

    def status(self) -> BrokerStatus:
        """Whether this home's broker process is alive, with its pid and address."""
        pid = self._live_pid()
        return BrokerStatus(pid is not None, pid, self.bootstrap, self.home)

    def up(self, timeout_s: float = 60, *, progress: Progress = _no_progress) -> str:
        """Start the broker unless it runs already; return its bootstrap address once it answers.

        ``timeout_s`` bounds the wait for the broker to answer; fetching the jars on first use
        (Maven, about ten seconds) comes before it. Raises BrokerError with a readable reason.
        """
        pid = self._live_pid()
        if pid is not None:
            progress(f"already running (pid {pid}), home {self.home}")
            wait_until_ready(self.bootstrap, timeout_s)
            return self.bootstrap
        self._refuse_taken_ports()
        _require_java()
        progress(f"resolving Kafka {KAFKA_VERSION} jars (Maven fetches them once, ~10 s) ...")
        libs = ensure_jars()
        self._write_config()
        self._format_storage_once(libs)
        progress(f"starting Kafka {KAFKA_VERSION} at {self.bootstrap}, log {self.log_file}")
        logs_before = self._log_sizes()
        process = self._spawn(libs)
        self.pid_file.write_text(f"{process.pid}\n")
        self._wait_until_started(process, timeout_s, logs_before)
        progress(f"ready (pid {process.pid})")
        return self.bootstrap

    def down(self, timeout_s: float = 30) -> bool:
        """Stop the broker (SIGTERM, SIGKILL after ``timeout_s``); False when it was not running."""
        pid = self._live_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _send(pid, signal.SIGTERM)
        if not _wait_for_exit(pid, timeout_s):
            _send(pid, signal.SIGKILL)
            _wait_for_exit(pid, _KILL_GRACE_S)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _refuse_taken_ports(self) -> None:
        for port in (self.port, self.controller_port):
            if _port_answers(self.host, port):
                raise BrokerError(
                    f"port {port} on {self.host} is already in use by another program; "
                    "stop it or choose other ports"
                )

    def _write_config(self) -> None:
        for folder in (self.home / "config", self.home / "data", self.home / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        properties = server_properties(
            self.host, self.port, self.controller_port, self.home / "data", dict(self.overrides)
        )
        self._properties_file.write_text(properties)
        (self.home / "config" / "log4j2.properties").write_text(log4j_config(self.log_file))

    def _format_storage_once(self, libs: Path) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return  # formatted before; saves two JVM starts
        tool = [*java_command(libs, self.home / "config", heap_mb=128), "kafka.tools.StorageTool"]
        cluster_id = _run_tool([*tool, "random-uuid"], "random-uuid").split()[-1]
        format_command = ["format", "-t", cluster_id, "-c", str(self._properties_file)]
        _run_tool([*tool, *format_command, "--ignore-formatted"], "format")

    def _spawn(self, libs: Path) -> subprocess.Popen[bytes]:
        command = [
            *java_command(libs, self.home / "config"),
            "kafka.Kafka",
            str(self._properties_file),
        ]
        with self.console_file.open("ab") as console:
            # A new session: the broker outlives the command and ignores its terminal's Ctrl-C.
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=console,
                start_new_session=True,
            )
        _children[process.pid] = process
        return process

    def _wait_until_started(
        self, process: subprocess.Popen[bytes], timeout_s: float, logs_before: dict[Path, int]
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while process.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.down()
                raise BrokerError(
                    f"the broker did not answer within {timeout_s:.0f} s; "
                    f"its log says: {_what_went_wrong(logs_before)}"
                )
            with contextlib.suppress(BrokerError):
                wait_until_ready(self.bootstrap, min(remaining, _ATTEMPT_TIMEOUT_S))
                return
        _children.pop(process.pid, None)
        self.pid_file.unlink(missing_ok=True)
        raise BrokerError(
            f"the broker exited during start (code {process.returncode}); "
            f"its log says: {_what_went_wrong(logs_before)}"
        )

    def _live_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if _alive(pid) and _runs_properties(pid, self._properties_file):
            return pid
        return None

    def _log_sizes(self) -> dict[Path, int]:
        """How far each log reaches now, so that an error report shows only this start's lines."""
        return {
            path: path.stat().st_size if path.exists() else 0
            for path in (self.console_file, self.log_file)
        }


def wait_until_ready(bootstrap: str, timeout_s: float) -> None:
    """Block until a Kafka metadata request answers at ``bootstrap``.

    Retries until ``timeout_s`` has passed, then raises BrokerError. The probe runs its own event
    loop in a worker thread, so this works from plain code and leaves the caller's event loop
    alone; from async code, call it through ``asyncio.to_thread`` to keep the loop responsive.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-ready") as pool:
        pool.submit(asyncio.run, _poll_metadata(bootstrap, timeout_s)).result()


async def _poll_metadata(bootstrap: str, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    with _quiet_client_logs():
        while True:
            attempt_s = max(0.1, min(_ATTEMPT_TIMEOUT_S, deadline - loop.time()))
            try:
                await asyncio.wait_for(_ask_for_metadata(bootstrap), attempt_s)
                return
            except (KafkaError, OSError) as exc:  # TimeoutError is an OSError
                if loop.time() + _RETRY_PAUSE_S >= deadline:
                    reason = str(exc) or type(exc).__name__
                    raise BrokerError(
                        f"no Kafka broker answered at {bootstrap} within {timeout_s:.0f} s "
                        f"({reason})"
                    ) from None
            await asyncio.sleep(_RETRY_PAUSE_S)


async def _ask_for_metadata(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await admin.start()
        await admin.list_topics()
    finally:
        await admin.close()


@contextlib.contextmanager
def _quiet_client_logs() -> Iterator[None]:
    # Refused connections are the expected answer while a broker starts; don't log each one.
    client_logger = logging.getLogger("aiokafka")
    level = client_logger.level
    client_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        client_logger.setLevel(level)


def _require_java() -> None:
    java = java_path()
    version = _java_major_version(java)
    if version is not None and version < MIN_JAVA_VERSION:
        raise BrokerError(
            f"{java} is Java {version}; Kafka {KAFKA_VERSION} needs Java {MIN_JAVA_VERSION}+"
        )


def _java_major_version(java: str) -> int | None:
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    # 'openjdk version "17.0.9"' or, before Java 9, 'java version "1.8.0_392"'.
    found = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def _run_tool(command: list[str], step: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = " | ".join((result.stderr or result.stdout).strip().splitlines()[-4:])
        raise BrokerError(f"Kafka's storage tool failed ({step}): {output}")
    return result.stdout


def _what_went_wrong(logs_before: dict[Path, int], count: int = 3) -> str:
    """The last lines that name a problem (else the last lines), stack frames left out."""
    lines: list[str] = []
    for path, offset in logs_before.items():
        with contextlib.suppress(OSError), path.open("rb") as log:
            log.seek(offset)
            lines += log.read().decode(errors="replace").splitlines()
    lines = [line.strip()[:_MAX_LINE] for line in lines if line.strip()]
    lines = [line for line in lines if not _STACK_FRAME.match(line)]
    problems = [line for line in lines if _PROBLEM.search(line)]
    return " | ".join((problems or lines)[-count:]) or "(nothing)"


def _send(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]  # reaped
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # An exited process that its parent has not reaped yet still answers signal 0.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state == "Z"


def _runs_properties(pid: int, properties_file: Path) -> bool:
    """Whether ``pid`` is a broker started with this very config file (pids get reused)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return True  # no /proc here: trust the pid file
    words = arguments.split("\0")
    return "kafka.Kafka" in words and str(properties_file) in words


def _port_answers(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0
