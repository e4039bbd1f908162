"""``processor broker up --secure``: every listener lets the client user in and keeps others out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from processor.broker import BrokerError, LocalBroker
from processor.broker.certificates import issue
from processor.broker.secure import SecuredProtocol, SecurePorts
from processor.commands.broker import add_broker_commands
from processor.commands.common import EXIT_USAGE
from processor.config import kafka_client_options
from tests.conftest import free_ports
from tests.security.support import as_settings, create_topics, secure_settings, ways_in
from tests.tools.test_one_line_errors import one_line, processor


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="processor")
    add_broker_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


@ways_in
async def test_the_client_user_makes_a_round_trip(
    secure_broker: LocalBroker, unique_name: str, protocol: SecuredProtocol, mechanism: str
) -> None:
    await create_topics(secure_broker, unique_name)
    options = kafka_client_options(secure_settings(secure_broker, protocol, mechanism))
    producer = AIOKafkaProducer(**options, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(unique_name, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        unique_name, **options, group_id=unique_name, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        record = await consumer.getone()
        await consumer.commit()
    finally:
        await consumer.stop()

    assert (record.key, record.value) == (b"k", b"hello")


async def test_a_certificate_of_a_user_without_acls_is_refused_the_topic(
    secure_broker: LocalBroker, unique_name: str, tmp_path: Path
) -> None:
    await create_topics(secure_broker, unique_name)
    stranger = issue(secure_broker.credentials.authority, tmp_path, "stranger")
    settings = secure_settings(
        secure_broker, "SSL", "", ssl_certfile=stranger.cert, ssl_keyfile=stranger.key
    )
    producer = AIOKafkaProducer(**kafka_client_options(settings))
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(unique_name, b"hello")
    finally:
        await producer.stop()


def test_cli_up_prints_the_client_settings_ready_for_export(
    secure_broker: LocalBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert secure_broker.secure is not None
    flags = ["--home", str(secure_broker.home), "--port", str(secure_broker.port),
             "--secure", "--secure-port", str(secure_broker.secure.sasl_ssl)]  # fmt: skip

    assert run_cli("broker", "up", *flags) == 0

    lines = capsys.readouterr().out.splitlines()
    printed = dict(line.split("=", 1) for line in lines)
    assert printed == secure_broker.client_settings("SASL_SSL", "SCRAM-SHA-512")
    assert set(printed) == {
        "PROCESSOR_BOOTSTRAP_SERVERS", "PROCESSOR_SECURITY_PROTOCOL", "PROCESSOR_SASL_MECHANISM",
        "PROCESSOR_SASL_USERNAME", "PROCESSOR_SASL_PASSWORD_FILE", "PROCESSOR_SSL_CAFILE",
    }  # fmt: skip
    as_settings(printed)  # valid settings as they are


def test_a_home_set_up_without_secure_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "meta.properties").write_text("cluster.id=x\n")
    port, controller_port, secured = free_ports(3)
    broker = LocalBroker(tmp_path, port, controller_port, secure=SecurePorts.after(secured))

    with pytest.raises(BrokerError, match="set up without --secure"):
        broker.up(timeout_s=10)


def test_a_token_provider_that_cannot_be_loaded_is_one_line_and_exit_2(
    secure_broker: LocalBroker,
) -> None:
    settings = secure_broker.client_settings("SASL_SSL", "OAUTHBEARER")
    environment: dict[str, Any] = settings | {
        "PROCESSOR_SASL_OAUTH_TOKEN_PROVIDER": "processor.broker.oauth:NoSuchProvider"
    }

    done = processor("topics", "ensure", **environment)

    assert done.returncode == EXIT_USAGE
    assert "processor.broker.oauth has no NoSuchProvider" in one_line(done)
