"""The tools' own logs, and the Kafka client's, follow the log settings as ``run``'s do: JSON
lines on stderr when JSON is selected, never on stdout among the command's output."""

from __future__ import annotations

import asyncio
import json

import pytest

from processor.config import Settings
from tests.conftest import free_ports
from tests.integration.test_undecodable_input import write_hostile_batches
from tests.kafka_support import create_topics, settings_for
from tests.tools.support import flags
from tests.tools.test_one_line_errors import processor


@pytest.fixture
def undecodable_dead_letters(bootstrap_servers: str, unique_name: str) -> Settings:
    """A dead-letter topic holding records the Kafka client cannot decode: the dlq commands
    read them raw and log ``undecodable_fetch``."""
    settings = settings_for(bootstrap_servers, unique_name)
    asyncio.run(create_topics(settings, partitions=1))
    asyncio.run(write_hostile_batches(bootstrap_servers, settings.dead_letter_topic))
    return settings


def test_in_json_mode_a_tools_log_lines_are_json_on_stderr(
    undecodable_dead_letters: Settings,
) -> None:
    done = processor(
        "dlq", "list", "--json", *flags(undecodable_dead_letters),
        PROCESSOR_LOG_FORMAT="json", PROCESSOR_LOG_LEVEL="info",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert "undecodable_fetch" in [event["event"] for event in events]
    assert all(event["level"] for event in events)
    assert len([json.loads(line) for line in done.stdout.splitlines()]) == 6  # output alone


def test_in_console_mode_a_tools_log_lines_are_for_a_person(
    undecodable_dead_letters: Settings,
) -> None:
    done = processor("dlq", "list", "--json", *flags(undecodable_dead_letters),
                     PROCESSOR_LOG_LEVEL="info")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "undecodable_fetch" in done.stderr
    assert not done.stderr.lstrip().startswith("{")
    assert len([json.loads(line) for line in done.stdout.splitlines()]) == 6


def test_in_json_mode_a_misspelt_variable_is_a_json_warning() -> None:
    closed_port = f"127.0.0.1:{free_ports(1)[0]}"
    done = processor(
        "dlq", "stats", "--bootstrap-servers", closed_port,
        PROCESSOR_LOG_FORMAT="json", PROCESSOR_LOG_LEVEL="warning", PROCESSOR_WORKRES="4",
    )  # fmt: skip
    warning, failure = done.stderr.splitlines()
    assert json.loads(warning)["event"] == "unknown_setting"
    assert "did you mean PROCESSOR_WORKERS/CONCURRENCY?" in json.loads(warning)["problem"]
    # The command's own failure stays its one line for the operator, as in console mode.
    assert failure.startswith("processor: cannot reach the cluster")
