"""Reading the dead-letter topic for the dlq commands: without a group, committing nothing."""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition

from processor.commands.deadletters import DeadLetter, Filter
from processor.commands.scan import UnknownTopicError, follow, offset_bounds, scan, scan_ranges
from processor.config import Settings, kafka_client_options
from processor.connect import start_client
from processor.metadata import refresh_metadata
from processor.security.permissions import Need

# ``dlq list --tail N`` reads each partition's last max(FIRST_WINDOW, 2N) offsets first, then
# windows this many times larger until it has N matches.
FIRST_WINDOW = 1000
WINDOW_GROWTH = 4


async def select(settings: Settings, wanted: Filter, limit: int = 0) -> list[DeadLetter]:
    """The dead letters ``wanted`` matches, in order per partition; ``limit`` 0 means all."""
    chosen: list[DeadLetter] = []
    records = cast(AsyncGenerator[Any, None], scan(settings, settings.dead_letter_topic))
    # aclosing: stopping early (a limit) closes the consumer now, not when the event loop ends.
    async with contextlib.aclosing(records):
        async for record in records:
            letter = DeadLetter.from_record(record)
            if wanted.matches(letter):
                chosen.append(letter)
                if limit and len(chosen) >= limit:
                    break
    return chosen


# Dead letters with no readable failure time sort as the oldest.
NO_TIME = datetime.min.replace(tzinfo=UTC)


def recency(letter: DeadLetter) -> tuple[datetime, int, int]:
    """How recent a dead letter is: by its failure time, then its place in its partition."""
    return (letter.failed_at or NO_TIME, letter.offset, letter.partition)


class Newest:
    """The newest ``tail`` dead letters offered (0: all), in bounded memory."""

    def __init__(self, tail: int) -> None:
        self._tail = tail
        self._kept: list[tuple[tuple[datetime, int, int], int, DeadLetter]] = []
        self._order = itertools.count()  # ties never reach the letters, which do not compare

    def offer(self, letter: DeadLetter) -> None:
        entry = (recency(letter), next(self._order), letter)
        if not self._tail or len(self._kept) < self._tail:
            heapq.heappush(self._kept, entry)
        elif entry[0] > self._kept[0][0]:
            heapq.heapreplace(self._kept, entry)

    def newest_first(self) -> list[DeadLetter]:
        return [letter for _, _, letter in sorted(self._kept, reverse=True)]


async def newest(
    settings: Settings, wanted: Filter, tail: int = 0, ends: dict[int, int] | None = None
) -> list[DeadLetter]:
    """The newest ``tail`` dead letters ``wanted`` matches (0: all), newest first; ``ends``
    gets where the read of each partition ended (where a follow goes on).

    With ``tail``, each partition is read backwards in growing windows until it has given
    ``tail`` matches or is read whole: the last N offsets may hold fewer than N dead letters
    (filtered out, transaction markers, aborted records), so no fixed window would do. The
    newest are those last written to each partition, shown by failure time.
    """
    kept = Newest(tail)
    topic = settings.dead_letter_topic
    if tail == 0:
        await _offer(kept, wanted, scan(settings, topic, ends), Counter())
        return kept.newest_first()
    bounds = await offset_bounds(settings, topic)
    if ends is not None:
        ends.update((partition, end) for partition, (_, end) in bounds.items())
    window = max(FIRST_WINDOW, tail * 2)
    todo = {p: (max(first, end - window), end) for p, (first, end) in bounds.items() if end > first}
    matched: Counter[int] = Counter()
    while todo:
        await _offer(kept, wanted, scan_ranges(settings, topic, todo), matched)
        window *= WINDOW_GROWTH
        todo = {
            p: (max(bounds[p][0], start - window), start)
            for p, (start, _) in todo.items()
            if matched[p] < tail and start > bounds[p][0]
        }
    return kept.newest_first()


async def _offer(
    kept: Newest, wanted: Filter, records: AsyncIterator[Any], matched: Counter[int]
) -> None:
    """Offer ``kept`` each dead letter of ``records`` that ``wanted`` matches, counted by
    partition in ``matched``."""
    async with contextlib.aclosing(cast(AsyncGenerator[Any, None], records)):
        async for record in records:
            letter = DeadLetter.from_record(record)
            if wanted.matches(letter):
                kept.offer(letter)
                matched[record.partition] += 1


async def arriving(
    settings: Settings, wanted: Filter, starts: dict[int, int]
) -> AsyncGenerator[DeadLetter, None]:
    """The dead letters ``wanted`` matches from ``starts`` on, as they arrive, until closed."""
    records = cast(AsyncGenerator[Any, None], follow(settings, settings.dead_letter_topic, starts))
    async with contextlib.aclosing(records):
        async for record in records:
            letter = DeadLetter.from_record(record)
            if wanted.matches(letter):
                yield letter


async def read_one(settings: Settings, partition: int, offset: int) -> DeadLetter | None:
    """The dead letter at ``partition``/``offset``, read directly rather than by a scan."""
    topic = settings.dead_letter_topic
    consumer = AIOKafkaConsumer(
        **kafka_client_options(settings), enable_auto_commit=False, group_id=None
    )
    await start_client(consumer, settings, [Need("READ", topic)])
    try:
        await refresh_metadata(consumer)  # this very topic may have grown partitions
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise UnknownTopicError(f"topic {topic!r} does not exist")
        if partition not in partitions:
            return None
        where = TopicPartition(topic, partition)
        consumer.assign([where])
        first = (await consumer.beginning_offsets([where]))[where]
        end = (await consumer.end_offsets([where]))[where]
        # Outside the retained range a fetch would reset to the end and wait for new records.
        if not first <= offset < end:
            return None
        consumer.seek(where, offset)
        record = await consumer.getone(where)
        # A compacted topic may have no record at this offset; the fetch then gives a later one.
        return DeadLetter.from_record(record) if record.offset == offset else None
    finally:
        await consumer.stop()
