"""A password given as a flag reaches every process, and no process shows it in its command line
(which any user on the host can read); the processes get it in their environment instead."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from processor.broker import LocalBroker
from processor.commands.failures import EXIT_AUTHENTICATION
from processor.config import load_settings
from tests.conftest import free_ports
from tests.kafka_support import create_topics, settings_for, wait_until
from tests.observability.http_client import get
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


def test_a_password_file_keeps_the_password_out_of_every_command_line_and_environment(
    tmp_path: Path,
) -> None:
    secret_file = tmp_path / "sasl.password"
    secret_file.write_text(SECRET + "\n")
    address = f"127.0.0.1:{free_ports(1)[0]}"
    command = [
        sys.executable, "-m", "processor", "run", "--processes", "2", "--http-port", "0",
        "--bootstrap-servers", address, "--startup-timeout-s", "60",
        "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "SCRAM-SHA-512",
        "--sasl-username", "someone", "--sasl-password-file", str(secret_file),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROCESSOR_LOG_LEVEL": "error"}
    instance = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_for_children(instance.pid, 2)
        for pid in [instance.pid, *descendants(instance.pid)]:
            assert SECRET.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
            assert SECRET.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
    finally:
        instance.send_signal(signal.SIGTERM)
        instance.wait(timeout=60)


def test_a_secrets_directory_gives_the_password(tmp_path: Path) -> None:
    (tmp_path / "processor_sasl_password").write_text(SECRET)
    variables = {"PROCESSOR_SECRETS_DIR": str(tmp_path), "PROCESSOR_SASL_USERNAME": "someone",
                 "PROCESSOR_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                 "PROCESSOR_SASL_MECHANISM": "PLAIN"}  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        settings = load_settings()

    assert settings.sasl_password is not None
    assert settings.sasl_password.get_secret_value() == SECRET


def test_the_password_is_in_no_debug_log_metric_help_or_error_line(
    secure_broker: LocalBroker, unique_name: str, tmp_path: Path
) -> None:
    password = secure_broker.credentials.password("processor")
    client = secure_broker.client_settings("SASL_SSL", "SCRAM-SHA-256")
    admin = settings_for(secure_broker.bootstrap, unique_name)
    asyncio.run(create_topics(admin, partitions=1))
    port = free_ports(1)[0]
    env = {**os.environ, **client, "PYTHONPATH": str(ROOT), "PROCESSOR_LOG_LEVEL": "debug",
           "PROCESSOR_PROCESSES": "1", "PROCESSOR_HTTP_PORT": str(port),
           "PROCESSOR_INPUT_TOPIC": unique_name, "PROCESSOR_GROUP_ID": admin.group_id,
           "PROCESSOR_SASL_PASSWORD": password}  # fmt: skip
    del env["PROCESSOR_SASL_PASSWORD_FILE"]  # the password itself, the harder case
    log = tmp_path / "log"
    with log.open("wb") as out:
        instance = subprocess.Popen([sys.executable, "-m", "processor", "run"], cwd=ROOT,
                                    env=env, stdout=out, stderr=out)  # fmt: skip
    try:
        assert asyncio.run(wait_until(lambda: ready(port), timeout_s=60)), log.read_text()[-2000:]
        status, metrics = asyncio.run(get(port, "/metrics"))
        assert status == 200
    finally:
        instance.send_signal(signal.SIGTERM)
        assert instance.wait(timeout=60) == 0
    helped = subprocess.run([sys.executable, "-m", "processor", "run", "--help"], cwd=ROOT,
                            env=env, capture_output=True, text=True, check=True)  # fmt: skip
    wrong_user = subprocess.run(
        [sys.executable, "-m", "processor", "topics", "ensure", "--sasl-username", "nobody"],
        cwd=ROOT, env={**env, "PROCESSOR_LOG_LEVEL": "error"}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip

    assert '"event": "started"' in log.read_text()  # it got in, logging at debug
    assert wrong_user.returncode == EXIT_AUTHENTICATION
    for text in (log.read_text(), metrics, helped.stdout, wrong_user.stderr):
        assert password not in text


async def ready(port: int) -> bool:
    try:
        status, _ = await get(port, "/readyz")
    except OSError:
        return False
    return status == 200
