"""``dlq list --tail N`` reads each partition backwards in growing windows: it finds the newest
N matches wherever they are, past thousands of newer non-matching dead letters and past aborted
transactions, and gives what a read of the whole topic gives."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from processor import headers as h
from processor.commands import dlq_read, scan
from processor.commands.cli import main
from processor.config import Settings
from tests.kafka_support import create_topics
from tests.tools.support import flags

NEWER = 2_600  # more than two first windows' worth of newer, non-matching dead letters
ABORTED = 1_500
LATE = 5


def letter(n: int, message: str) -> dict[str, Any]:
    failed_at = f"2026-11-29T10:{n // 3600 % 60:02d}:{n // 60 % 60:02d}.{n % 60:03d}Z"
    headers = [
        (h.DLQ_STAGE, b"validate"),
        (h.DLQ_CLASS, b"ValidationError"),
        (h.DLQ_MESSAGE, message.encode()),
        (h.DLQ_FAILED_AT, failed_at.encode()),
    ]
    return {"key": f"k{n}".encode(), "value": b"{}", "headers": headers, "partition": 0}


async def write(settings: Settings) -> None:
    """Old matching dead letters, many newer ones that do not match, an aborted transaction's
    records (offsets a read_committed reader passes over), then a few more dead letters."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        for n in range(5):
            await producer.send(settings.dead_letter_topic, **letter(n, f"needle {n}"))
        for n in range(5, 5 + NEWER):
            await producer.send(settings.dead_letter_topic, **letter(n, "hay"))
        await producer.flush()
    finally:
        await producer.stop()
    aborting = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, transactional_id=f"{settings.group_id}-x"
    )
    await aborting.start()
    try:
        await aborting.begin_transaction()
        for n in range(ABORTED):
            await aborting.send(settings.dead_letter_topic, **letter(10_000 + n, "needle aborted"))
        await aborting.abort_transaction()
    finally:
        await aborting.stop()
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        for n in range(LATE):
            await producer.send(settings.dead_letter_topic, **letter(20_000 + n, "late hay"))
        await producer.flush()
    finally:
        await producer.stop()


def listed(settings: Settings, capsys: pytest.CaptureFixture[str], *options: str) -> list[Any]:
    assert main(["dlq", "list", "--json", *options, *flags(settings)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_tail_finds_the_newest_matches_behind_newer_letters_and_aborted_ones(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(create_topics(settings, partitions=1))
    asyncio.run(write(settings))
    capsys.readouterr()
    reads: list[dict[int, tuple[int, int]]] = []
    ranges = scan.scan_ranges

    def counted(s: Settings, topic: str, todo: dict[int, tuple[int, int]]) -> Any:
        reads.append(dict(todo))
        return ranges(s, topic, todo)

    monkeypatch.setattr(dlq_read, "scan_ranges", counted)

    newest = listed(settings, capsys, "--tail", "3")
    assert [row["message"] for row in newest] == ["late hay"] * 3
    assert len(reads) == 1  # the first window held them

    reads.clear()
    needles = listed(settings, capsys, "--grep", "needle", "--tail", "2")
    assert [row["message"] for row in needles] == ["needle 4", "needle 3"]
    assert reads[0][0][1] - reads[0][0][0] == dlq_read.FIRST_WINDOW
    assert reads[-1][0][0] == 0  # windows growing back to the beginning
    assert len(reads) == 2

    reads.clear()
    seven = listed(settings, capsys, "--tail", "7")  # past the aborted records
    assert [row["message"] for row in seven] == ["late hay"] * LATE + ["hay"] * 2
    assert len(reads) == 2
    every = listed(settings, capsys)  # the whole topic, as before
    assert seven == every[:7]
    assert len(every) == 5 + NEWER + LATE
