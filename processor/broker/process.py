"""The broker's JVM as an operating-system process: spawn it detached, signal it, tell if it lives.

Everything here is about pids, signals, ports and log files, nothing about Kafka's protocol, so
one broker and each node of a cluster share it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from processor.broker.jars import KAFKA_VERSION, BrokerError
from processor.broker.settings import MIN_JAVA_VERSION, java_path

_MAX_LINE = 400
_STACK_FRAME = re.compile(r"^(at |\.\.\. \d+ more)")
_PROBLEM = re.compile(r"\b(ERROR|FATAL)\b|Exception|Error\b")

# Brokers this process started: kept so that stopping them reaps them (no zombies, no warnings).
_children: dict[int, subprocess.Popen[bytes]] = {}


def spawn_detached(command: list[str], console: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in a session of its own, its output appended to ``console``."""
    with console.open("ab") as output:
        # A new session: the broker outlives the command and ignores its terminal's Ctrl-C.
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True
        )
    _children[process.pid] = process
    return process


def forget(process: subprocess.Popen[bytes]) -> None:
    """Drop a child that has exited and been waited for."""
    _children.pop(process.pid, None)


def terminate_process(pid: int, timeout_s: float, kill_grace_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if ``pid`` still lives after ``timeout_s``."""
    send_signal(pid, signal.SIGTERM)
    if not wait_for_exit(pid, timeout_s):
        kill_process(pid, kill_grace_s)


def kill_process(pid: int, timeout_s: float = 5.0) -> None:
    """SIGKILL, and wait (up to ``timeout_s``) until the process is gone."""
    send_signal(pid, signal.SIGKILL)
    wait_for_exit(pid, timeout_s)


def send_signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def wait_for_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def alive(pid: int) -> bool:
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


def runs_properties(pid: int, properties_file: Path) -> bool:
    """Whether ``pid`` is a broker started with this very config file (pids get reused)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return True  # no /proc here: trust the pid file
    words = arguments.split("\0")
    return "kafka.Kafka" in words and str(properties_file) in words


def refuse_taken_ports(host: str, ports: list[int]) -> None:
    for port in ports:
        if _port_answers(host, port):
            raise BrokerError(
                f"port {port} on {host} is already in use by another program; "
                "stop it or choose other ports"
            )


def _port_answers(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def require_java() -> None:
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


def run_tool(command: list[str], step: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines()]
        output = " | ".join([line for line in lines if line and not _STACK_FRAME.match(line)][-4:])
        raise BrokerError(f"Kafka's storage tool failed ({step}): {output[:_MAX_LINE]}")
    return result.stdout


def log_sizes(paths: tuple[Path, ...]) -> dict[Path, int]:
    """How far each log reaches now, so that an error report shows only the lines after it."""
    return {path: path.stat().st_size if path.exists() else 0 for path in paths}


def what_went_wrong(logs_before: dict[Path, int], count: int = 3) -> str:
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
