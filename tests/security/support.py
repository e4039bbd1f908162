"""Shared by the security tests: settings for the secured broker, the protocols it offers."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from processor.broker import LocalBroker
from processor.broker.secure import SecuredProtocol
from processor.config import ENV_PREFIX, Settings
from processor.pipeline import PipelineLike
from processor.pipelines.transactions import pipeline as transactions
from tests.kafka_support import all_committed, running

# (protocol, SASL mechanism): every way in that the secured broker offers a client.
WAYS_IN: list[tuple[SecuredProtocol, str]] = [
    ("SASL_SSL", "SCRAM-SHA-256"),
    ("SASL_SSL", "SCRAM-SHA-512"),
    ("SASL_SSL", "PLAIN"),
    ("SASL_SSL", "OAUTHBEARER"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
    ("SSL", ""),
]
WAY_IDS = [f"{protocol}-{mechanism}".rstrip("-") for protocol, mechanism in WAYS_IN]
ways_in = pytest.mark.parametrize(("protocol", "mechanism"), WAYS_IN, ids=WAY_IDS)


def as_settings(environment: dict[str, str], **overrides: Any) -> Settings:
    """Settings from ``PROCESSOR_*`` variables, with ``overrides`` on top."""
    given = {name.removeprefix(ENV_PREFIX).lower(): value for name, value in environment.items()}
    return Settings(**(given | overrides))


def secure_settings(
    broker: LocalBroker, protocol: SecuredProtocol, mechanism: str, **overrides: Any
) -> Settings:
    """Settings that reach ``broker`` as its client user over ``protocol``."""
    return as_settings(broker.client_settings(protocol, mechanism or "PLAIN"), **overrides)


def client_flags(broker: LocalBroker, protocol: SecuredProtocol, mechanism: str) -> list[str]:
    """The command-line flags that connect a command in this process as the client user."""
    flags: list[str] = []
    for name, value in broker.client_settings(protocol, mechanism or "PLAIN").items():
        flags += ["--" + name.removeprefix(ENV_PREFIX).lower().replace("_", "-"), value]
    return flags


async def processed(
    secured: Settings, admin: Settings, pipeline: PipelineLike = transactions
) -> None:
    """Run the processor with ``secured`` until the group has committed the whole input, as
    the admin address tells."""
    async with running(secured, pipeline):
        assert await all_committed(admin, timeout_s=60)


async def create_topics(broker: LocalBroker, *names: str, partitions: int = 1) -> None:
    """Create topics through the broker's admin address (its super user)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        await admin.close()
