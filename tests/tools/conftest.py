"""Each command test gets its own input, output and dead-letter topics on the session broker."""

from __future__ import annotations

import asyncio

import pytest

from processor.config import Settings
from tests.kafka_support import create_topics, settings_for


@pytest.fixture
def settings(bootstrap_servers: str, unique_name: str) -> Settings:
    config = settings_for(bootstrap_servers, unique_name)
    asyncio.run(create_topics(config))
    return config
