"""``processor status`` against the real processor on the real broker: members, assignment,
committed and end offsets, lag, the commit's age (from the commit's metadata), and its errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from processor.commands.cli import main
from processor.commands.common import EXIT_USAGE
from processor.config import Settings
from tests.kafka_support import (
    all_committed,
    create_topics,
    end_offsets,
    mixed_samples,
    produce,
    running,
    settings_for,
)
from tests.tools.support import flags

PARTITIONS = 4
INSTANCE = "status-pod-0"
# A commit seen by status right after the processor committed everything is this recent.
RECENT_S = 60.0


def status(settings: Settings, capsys: pytest.CaptureFixture[str], *options: str) -> Any:
    assert main(["status", "--json", *options, *flags(settings)]) == 0
    return json.loads(capsys.readouterr().out)


async def status_while_running(settings: Settings, capsys: pytest.CaptureFixture[str]) -> Any:
    """Process a sample, then ask for the status while the processor still runs."""
    await produce(settings.bootstrap_servers, settings.input_topic, mixed_samples(200))
    async with running(settings):
        assert await all_committed(settings, timeout_s=60)
        # main runs its own event loop: in a thread, as beside a running processor.
        return await asyncio.to_thread(status, settings, capsys)


@pytest.fixture
def static_member(bootstrap_servers: str, unique_name: str) -> Settings:
    settings = settings_for(bootstrap_servers, unique_name, group_instance_id=INSTANCE)
    asyncio.run(create_topics(settings, PARTITIONS))
    return settings


def test_a_running_processor_is_one_member_holding_every_partition_with_no_lag(
    static_member: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    document = asyncio.run(status_while_running(static_member, capsys))
    assert (document["group"], document["state"]) == (static_member.group_id, "Stable")
    [member] = document["members"]
    assert member["group_instance_id"] == INSTANCE
    assert member["member_id"].startswith(INSTANCE)  # static members' ids start so
    assert member["client_id"].startswith(f"{static_member.group_id}-{INSTANCE}")
    assert member["host"]
    topic = static_member.input_topic
    expected = [{"topic": topic, "partition": p} for p in range(PARTITIONS)]
    assert member["partitions"] == expected
    ends = asyncio.run(end_offsets(static_member.bootstrap_servers, topic))
    rows = document["partitions"]
    assert [(r["topic"], r["partition"]) for r in rows] == [(topic, p) for p in range(PARTITIONS)]
    for row in rows:
        assert row["end"] == ends[row["partition"]]
        assert row["member_id"] == member["member_id"]
        if row["end"]:  # a partition the sample reached: committed to its end
            assert (row["committed"], row["lag"]) == (row["end"], 0)
            assert 0 <= row["commit_age_s"] < RECENT_S
    assert document["total_lag"] == 0
    assert 0 <= document["last_commit_age_s"] < RECENT_S
    assert document["end_offsets"] == "last stable offset"  # read_committed, the default


def test_a_stopped_processors_group_is_empty_and_lags_by_what_came_since(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(status_while_running(settings, capsys))
    asyncio.run(produce(settings.bootstrap_servers, settings.input_topic, mixed_samples(7)))
    document = status(settings, capsys)
    assert (document["state"], document["members"]) == ("Empty", [])
    assert document["total_lag"] == 7
    assert sum(r["end"] - r["committed"] for r in document["partitions"] if r["committed"]) == 7
    assert main(["status", *flags(settings)]) == 0
    text = capsys.readouterr().out
    assert f"group {settings.group_id}: Empty, 0 member(s), total lag 7" in text
    assert max(len(line) for line in text.splitlines()) <= 80  # no terminal, no COLUMNS


def test_exactly_once_commits_carry_their_time_too(
    bootstrap_servers: str, unique_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, guarantee="exactly-once")
    asyncio.run(create_topics(settings, PARTITIONS))
    document = asyncio.run(status_while_running(settings, capsys))
    committed = [r for r in document["partitions"] if r["committed"]]
    assert committed
    assert all(0 <= r["commit_age_s"] < RECENT_S for r in committed)
    assert document["total_lag"] == 0


def test_an_unknown_group_or_topic_is_one_line_and_exit_2(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    missing_group = ["status", *flags(settings), "--group", "no-such-group-here"]
    assert main(missing_group) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == (
        "processor: group 'no-such-group-here' does not exist (no members, no committed offsets)\n"
    )
    asyncio.run(status_while_running(settings, capsys))  # the group exists now
    capsys.readouterr()  # the stopped processor's own log lines
    missing_topic = ["status", *flags(settings), "--input-topic", "no-such-topic-here"]
    assert main(missing_topic) == EXIT_USAGE
    assert capsys.readouterr().err == "processor: topic 'no-such-topic-here' does not exist\n"
