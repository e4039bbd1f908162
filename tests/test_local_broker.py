"""The local Kafka broker: status, idempotent start, a round trip, stop, and clear errors."""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from processor.broker import BrokerError, LocalBroker
from processor.commands.broker import add_broker_commands
from tests.conftest import free_ports


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="processor")
    add_broker_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def location_flags(broker: LocalBroker) -> list[str]:
    return ["--home", str(broker.home), "--port", str(broker.port)]


def test_status_says_running_with_the_session_address(
    local_broker: LocalBroker, bootstrap_servers: str
) -> None:
    status = local_broker.status()

    assert status.running
    assert status.bootstrap == bootstrap_servers
    assert status.pid == int(local_broker.pid_file.read_text())
    assert status.home == local_broker.home


def test_up_again_returns_the_same_address_quickly_with_the_same_pid(
    local_broker: LocalBroker, bootstrap_servers: str
) -> None:
    pid = local_broker.status().pid
    started = time.monotonic()

    assert local_broker.up() == bootstrap_servers

    assert time.monotonic() - started < 5
    assert local_broker.status().pid == pid


def test_cli_up_prints_only_the_address_and_status_one_line(
    local_broker: LocalBroker, bootstrap_servers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("broker", "up", *location_flags(local_broker)) == 0
    assert capsys.readouterr().out == f"{bootstrap_servers}\n"

    assert run_cli("broker", "status", *location_flags(local_broker)) == 0
    pid = local_broker.status().pid
    expected = f"running pid={pid} bootstrap={bootstrap_servers} home={local_broker.home}\n"
    assert capsys.readouterr().out == expected


async def test_a_record_makes_the_round_trip(bootstrap_servers: str, unique_name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(unique_name, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(unique_name, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        unique_name,
        bootstrap_servers=bootstrap_servers,
        group_id=unique_name,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await consumer.getone()
        await consumer.commit()
    finally:
        await consumer.stop()

    assert (record.key, record.value) == (b"k", b"hello")


def test_down_stops_a_second_broker(
    local_broker: LocalBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port, controller_port = free_ports(2)
    second = LocalBroker(tmp_path / "second", port, controller_port)
    try:
        assert second.up(timeout_s=180) == f"127.0.0.1:{port}"
        assert second.status().running
    finally:
        assert second.down()

    assert not second.status().running
    assert not second.pid_file.exists()
    assert not second.down()
    assert run_cli("broker", "status", *location_flags(second)) == 3
    assert capsys.readouterr().out == f"not running home={second.home}\n"


def test_a_port_in_use_is_refused_with_the_port_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (controller_port,) = free_ports(1)

        with pytest.raises(BrokerError, match=rf"port {port}\b.*in use"):
            LocalBroker(tmp_path, port, controller_port).up(timeout_s=10)


def test_cli_reports_a_broker_error_in_one_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        flags = [
            "--home",
            str(tmp_path),
            "--port",
            port,
            "--controller-port",
            str(free_ports(1)[0]),
        ]

        assert run_cli("broker", "up", *flags) == 1

    output = capsys.readouterr()
    assert output.out == ""
    assert output.err.count("\n") == 1
    assert f"port {port} " in output.err
