"""Shared by the command tests: the sample files, settings flags, running the processor."""

from __future__ import annotations

import asyncio
from pathlib import Path

from processor.config import Settings
from tests.kafka_support import all_committed, running

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def flags(settings: Settings) -> list[str]:
    """The command-line flags that point a command at this test's broker and topics."""
    return ["--bootstrap-servers", settings.bootstrap_servers,
            "--input-topic", settings.input_topic, "--group-id", settings.group_id]  # fmt: skip


def process_all(settings: Settings) -> None:
    """Run the real processor until it has committed everything on the input topic."""

    async def drain() -> None:
        async with running(settings):
            assert await all_committed(settings, timeout_s=60)

    asyncio.run(drain())
