"""A password given as a flag reaches every process, and no process shows it in its command line
(which any user on the host can read); the processes get it in their environment instead."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import free_ports
from tests.processes import ROOT

SECRET = "secret-xyz"


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    found = children(pid)
    return found + [grandchild for child in found for grandchild in descendants(child)]


def wait_for_children(pid: int, count: int, timeout_s: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = children(pid)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"process {pid} has {children(pid)} after {timeout_s} s")


def test_no_process_of_an_instance_shows_the_password_in_its_command_line() -> None:
    # Nothing listens there: the processes wait to start, with their settings, until stopped.
    address = f"127.0.0.1:{free_ports(1)[0]}"
    command = [
        sys.executable, "-m", "processor", "run", "--processes", "2", "--http-port", "0",
        "--bootstrap-servers", address, "--startup-timeout-s", "60",
        "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "PLAIN",
        "--sasl-username", "someone", "--sasl-password", SECRET,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROCESSOR_LOG_LEVEL": "error"}
    instance = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        processes = wait_for_children(instance.pid, 2)
        everyone = [instance.pid, *descendants(instance.pid)]
        assert len(everyone) >= 3
        for pid in everyone:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert SECRET.encode() not in cmdline, (pid, cmdline)
        for pid in processes:
            variables = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert f"PROCESSOR_SASL_PASSWORD={SECRET}".encode() in variables
    finally:
        instance.send_signal(signal.SIGTERM)
        instance.wait(timeout=60)
