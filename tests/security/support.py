"""Shared by the security tests: settings for the secured broker, the protocols it offers."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from processor.broker import LocalBroker
from processor.broker.secure import SecuredProtocol
from processor.config import ENV_PREFIX, Settings

# (protocol, SASL mechanism): every way in that the secured broker offers a client.
WAYS_IN: list[tuple[SecuredProtocol, str]] = [
    ("SASL_SSL", "SCRAM-SHA-256"),
    ("SASL_SSL", "SCRAM-SHA-512"),
    ("SASL_SSL", "PLAIN"),
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


async def create_topics(broker: LocalBroker, *names: str, partitions: int = 1) -> None:
    """Create topics through the broker's admin address (its super user)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        await admin.close()
