"""Every command over the secured broker's listeners: records reach their outputs and the
dead-letter topic over SASL_SSL/SCRAM and over mutual TLS (``processor run``), and every tool
command, and the engine in this process, work over every protocol and mechanism. The tests
check what landed through the admin address (a super user)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from processor.broker import LocalBroker
from processor.broker.secure import SecuredProtocol
from processor.commands.cli import main
from processor.config import Settings
from tests.kafka_support import (
    all_committed,
    collect,
    create_topics,
    mixed_samples,
    produce,
    read_all,
    settings_for,
)
from tests.processes import ROOT, ProcessorProcess
from tests.security.support import client_flags, processed, secure_settings, ways_in
from tests.tools.support import EXAMPLES

VALIDATE_SAMPLES = 8  # the lines of examples/errors.jsonl
DECODE_SAMPLES = 2  # the lines of examples/raw-errors.txt


def client_environment(
    broker: LocalBroker, protocol: SecuredProtocol, mechanism: str
) -> dict[str, str]:
    """The environment of a command run as the client user, as an operator would set it."""
    return {**os.environ, **broker.client_settings(protocol, mechanism or "PLAIN")}


@pytest.mark.parametrize(
    ("protocol", "mechanism"), [("SASL_SSL", "SCRAM-SHA-512"), ("SSL", "")], ids=["scram", "mtls"]
)
async def test_run_routes_every_record_to_its_output_or_the_dead_letter_topic(
    secure_broker: LocalBroker,
    unique_name: str,
    protocol: SecuredProtocol,
    mechanism: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    admin = settings_for(secure_broker.bootstrap, unique_name)
    await create_topics(admin, partitions=2)
    samples = mixed_samples(400)
    await produce(secure_broker.bootstrap, admin.input_topic, samples)
    environment = client_environment(secure_broker, protocol, mechanism)
    secured = secure_settings(secure_broker, protocol, mechanism, input_topic=unique_name,
                              group_id=admin.group_id, commit_interval_ms=200)  # fmt: skip

    with monkeypatch.context() as patch:  # the process inherits it
        for name, value in environment.items():
            patch.setenv(name, value)
        process = ProcessorProcess(secured, tmp_path / "log").start()
    try:
        assert await all_committed(admin, timeout_s=60), (tmp_path / "log").read_text()[-2000:]
    finally:
        assert await process.stop(signal.SIGTERM) == 0

    delivery = await collect(admin)
    assert Counter(delivery.ids()) == Counter(sample.test_id for sample in samples)
    assert len(delivery.dead_letters) == sum(not sample.valid for sample in samples)


@ways_in
def test_every_tool_command_and_the_engine_work_over(
    secure_broker: LocalBroker,
    unique_name: str,
    protocol: SecuredProtocol,
    mechanism: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    way = (protocol, mechanism)
    admin = settings_for(secure_broker.bootstrap, unique_name)
    topics = ["--input-topic", unique_name, "--group-id", admin.group_id,
              *client_flags(secure_broker, *way)]  # fmt: skip
    assert main(["topics", "ensure", *topics, "--topic-partitions", "1"]) == 0
    assert main(["produce", str(EXAMPLES / "errors.jsonl"), *topics]) == 0
    assert main(["produce", "--raw", str(EXAMPLES / "raw-errors.txt"), *topics]) == 0
    secured = secure_settings(secure_broker, *way, input_topic=unique_name,
                              group_id=admin.group_id, commit_interval_ms=200)  # fmt: skip
    asyncio.run(processed(secured, admin))
    capsys.readouterr()

    assert main(["dlq", "list", "--json", *topics]) == 0
    letters = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(letters) == VALIDATE_SAMPLES + DECODE_SAMPLES
    assert main(["dlq", "show", str(letters[0]["offset"]), *topics]) == 0
    assert main(["dlq", "stats", "--json", *topics]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["total"] == len(letters)
    assert main(["dlq", "replay", "--stage", "decode", *topics]) == 0
    assert capsys.readouterr().out.startswith(f"replayed {DECODE_SAMPLES}, refused 0, failed 0")
    asyncio.run(processed(secured, admin))  # the replayed records fail again
    assert main(["audit", *topics]) == 0, capsys.readouterr()
    capsys.readouterr()
    assert main(["status", "--json", *topics]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["total_lag"] == 0, status
    assert main(["dlq", "replay", "--dry-run", "--to", "no-such-topic", *topics]) == 2
    assert "no-such-topic" in capsys.readouterr().err
    environment = client_environment(secure_broker, *way)
    archived = archive_once(secured, tmp_path / "archive", environment)
    assert archived.returncode == 0, archived.stderr[-2000:]
    assert list((tmp_path / "archive").rglob("*.parquet"))


def archive_once(
    settings: Settings, to: Path, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``processor archive --once`` of the dead-letter topic, as a process of its own."""
    command = [sys.executable, "-m", "processor", "archive", settings.dead_letter_topic,
               "--to", str(to), "--once", "--http-port", "0",
               "--bootstrap-servers", settings.bootstrap_servers]  # fmt: skip
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**environment, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


@ways_in
def test_topics_ensure_and_produce_work_over(
    secure_broker: LocalBroker,
    unique_name: str,
    protocol: SecuredProtocol,
    mechanism: str,
) -> None:
    topics = ["--input-topic", unique_name, "--topic-partitions", "1",
              *client_flags(secure_broker, protocol, mechanism)]  # fmt: skip

    assert main(["topics", "ensure", *topics]) == 0
    assert main(["produce", str(EXAMPLES / "transactions.jsonl"), *topics]) == 0

    sent = asyncio.run(read_all(secure_broker.bootstrap, unique_name))
    assert len(sent) == len((EXAMPLES / "transactions.jsonl").read_text().splitlines())
