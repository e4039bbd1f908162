"""Sending dead letters back: the original record, plus when and how often it was replayed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from processor import headers as h
from processor.commands.common import SEND_CHUNK
from processor.commands.deadletters import DeadLetter
from processor.commands.produce import check_topics_exist
from processor.commands.progress import Progress
from processor.commands.scan import UnknownTopicError
from processor.config import Settings, kafka_client_options
from processor.connect import start_client
from processor.metadata import partitions_of
from processor.security.permissions import Need


def replay_headers(letter: DeadLetter, now: datetime) -> list[tuple[str, bytes | None]]:
    """The original headers, with a fresh replay time and count (the failure's own are gone)."""
    kept = [
        (n, v)
        for n, v in letter.original_headers
        if n not in (h.DLQ_REPLAYED_AT, h.DLQ_REPLAY_COUNT)
    ]
    stamp = now.isoformat(timespec="milliseconds").encode()
    return [
        *kept,
        (h.DLQ_REPLAYED_AT, stamp),
        (h.DLQ_REPLAY_COUNT, str(letter.replay_count + 1).encode()),
    ]


async def send_back(settings: Settings, letters: list[DeadLetter], to: str | None) -> int:
    """Send ``letters`` to ``to`` or each one's source topic; how many the broker refused."""
    producer = AIOKafkaProducer(
        **kafka_client_options(settings), acks="all", enable_idempotence=True
    )
    targets = sorted({to or letter.source_topic for letter in letters})
    await start_client(producer, settings, [Need("WRITE", topic) for topic in targets])
    progress = Progress("replayed", len(letters))
    failed = 0
    try:
        await check_topics_exist(producer, targets)
        now = datetime.now(UTC)
        for start in range(0, len(letters), SEND_CHUNK):
            pending = [
                await producer.send(
                    to or x.source_topic,
                    x.value,
                    key=x.key,
                    headers=replay_headers(x, now),
                    timestamp_ms=x.timestamp_ms,
                )
                for x in letters[start : start + SEND_CHUNK]
            ]
            results = await asyncio.gather(*pending, return_exceptions=True)
            failed += sum(isinstance(r, BaseException) for r in results)
            progress.show(start + len(pending))
    finally:
        await producer.stop()
        progress.done()
    return failed


async def check_topics(settings: Settings, topics: list[str]) -> None:
    """Raise :class:`UnknownTopicError` for the first of ``topics`` the cluster does not have;
    a dry run checks its targets so, without a producer."""
    consumer = AIOKafkaConsumer(
        **kafka_client_options(settings), enable_auto_commit=False, group_id=None
    )
    await start_client(consumer, settings, [Need("WRITE", topic) for topic in topics])
    try:
        for topic in topics:
            if not await partitions_of(consumer, topic):
                raise UnknownTopicError(f"topic {topic!r} does not exist")
    finally:
        await consumer.stop()
