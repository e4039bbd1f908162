"""The partitions this archiver owns, from assignment to revocation, and their commits.

On assignment each partition is recovered first (:mod:`processor.archive.recovery`): files found
past its committed offset were renamed by an archiver that died before committing, so reading
resumes after them, and that position is committed. Every assigned partition is sought to where
its archive ends, never left where the client stood. On revocation the partition's open file is
let go (the next owner reads those records again), a file of it being written is waited for, and
queued files of it are never written: each carries the :class:`Partition` it was read under.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from processor.archive.files import FileStore
from processor.archive.layout import topic_folder
from processor.archive.recovery import Recovered, recover
from processor.archive.rolling import OpenFile
from processor.archive.view import ArchiveStats
from processor.config import Settings
from processor.engine.committime import with_time
from processor.engine.positions import PartitionPosition
from processor.logs import get_logger

log = get_logger("processor.archive")

# How long a listing of the store may keep failing at an assignment before the archive stops.
LIST_ATTEMPTS = 5
LIST_RETRY_S = 2.0


@dataclass(slots=True, eq=False)
class Partition:
    """One assigned partition, for as long as it stays assigned."""

    tp: TopicPartition
    committed: int | None = None
    next_offset: int | None = None  # after the last record taken in
    open: OpenFile | None = None
    leftovers: list[str] = field(default_factory=list)  # to delete before its next file
    end: int | None = None  # its end when assigned (for --once)
    revoked: bool = False


class Owner(Protocol):
    """What the partitions need of the archiver around a rebalance."""

    paused: bool

    async def wait_for_writes_of(self, revoked: set[TopicPartition], timeout_s: float) -> None: ...
    def fail(self, message: str) -> None: ...


class Partitions(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        store: FileStore,
        stats: ArchiveStats,
        settings: Settings,
        owner: Owner,
    ) -> None:
        self._consumer, self._store, self._stats = consumer, store, stats
        self._settings, self._owner = settings, owner
        self._owned: dict[TopicPartition, Partition] = {}
        self.joined = False
        self.open_bytes = 0
        self.open_records = 0

    def get(self, tp: TopicPartition) -> Partition | None:
        return self._owned.get(tp)

    def owned(self) -> Iterator[Partition]:
        return iter(list(self._owned.values()))

    def pause_all(self) -> None:
        self._consumer.pause(*self._owned)

    def resume_all(self) -> None:
        self._consumer.resume(*self._owned)

    def positions(self) -> list[PartitionPosition]:
        positions = []
        for tp, partition in sorted(self._owned.items()):
            try:
                high = self._consumer.highwater(tp)
            except (AssertionError, AttributeError):  # not assigned any more (see engine)
                high = None
            positions.append(PartitionPosition(tp, partition.committed, high))
        return positions

    async def commit(self, partition: Partition, offset: int) -> None:
        """Commit ``offset`` for ``partition``; a failure is logged: the files say the truth."""
        try:
            await self._consumer.commit(with_time({partition.tp: offset}, time.time()))
        except KafkaError as exc:
            # After a rebalance (CommitFailedError) or while the coordinator moves. The file is
            # written: the next commit, or the next owner's recovery, covers it.
            self._stats.commit_failures += 1
            tp = partition.tp
            log.warning("archive_commit_failed", topic=tp.topic, partition=tp.partition,
                        offset=offset, error=repr(exc))  # fmt: skip
            return
        partition.committed = offset
        self._stats.commits += 1

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            partition = self._owned.pop(tp, None)
            if partition is None:
                continue
            partition.revoked = True
            if partition.open is not None:
                self.open_bytes -= partition.open.bytes
                self.open_records -= len(partition.open.records)
                partition.open = None
        await self._owner.wait_for_writes_of(set(revoked), self._settings.revoke_timeout_s)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._stats.rebalances += 1
        listings: dict[str, tuple[list[str], list[str]]] = {}
        for tp in sorted(assigned):
            if tp.topic not in listings:
                found = await self._list(tp.topic)
                if found is None:
                    self._consumer.pause(tp)  # never read: the archive is stopping
                    continue
                listings[tp.topic] = found
            try:
                await self._adopt(tp, *listings[tp.topic])
            except Exception as exc:  # aiokafka would log it and go on reading, unrecovered
                self._consumer.pause(tp)
                self._owner.fail(f"cannot take {tp.topic}/{tp.partition}: {exc!r}")
        if self._owner.paused:  # pauses do not survive a rebalance
            self.pause_all()
        self.joined = True

    async def _adopt(self, tp: TopicPartition, main: list[str], invalid: list[str]) -> None:
        committed = await self._consumer.committed(tp)
        partition = Partition(tp, committed=committed)
        found: Recovered = recover(tp.partition, committed, main, invalid)
        partition.leftovers = found.leftovers
        if found.resume_at is not None:
            log.info("archive_recovered", topic=tp.topic, partition=tp.partition,
                     committed=committed, resume_at=found.resume_at)  # fmt: skip
            self._stats.recovered_files += 1
            await self.commit(partition, found.resume_at)
        # Always seek: a partition that stays assigned across a rebalance keeps the position
        # the client had reached, past records whose open file was let go at the revocation.
        # (seek_to_beginning would wait for the fetcher, which waits for this callback.)
        partition.end = (await self._consumer.end_offsets([tp]))[tp]
        start = found.resume_at if found.resume_at is not None else committed
        if start is None:
            earliest = self._settings.auto_offset_reset == "earliest"
            start = (
                (await self._consumer.beginning_offsets([tp]))[tp] if earliest else partition.end
            )
        self._consumer.seek(tp, start)
        partition.next_offset = start
        self._owned[tp] = partition

    async def _list(self, topic: str) -> tuple[list[str], list[str]] | None:
        """Every file of ``topic`` and of its ``_invalid`` folder; None when the store fails."""
        for attempt in range(1, LIST_ATTEMPTS + 1):
            try:
                main = await asyncio.to_thread(self._store.list, topic_folder(topic))
                invalid = await asyncio.to_thread(
                    self._store.list, topic_folder(topic, invalid=True)
                )
                return main, invalid
            except OSError as exc:
                log.warning("archive_list_failed", topic=topic, attempt=attempt, error=str(exc))
                if attempt < LIST_ATTEMPTS:
                    await asyncio.sleep(LIST_RETRY_S)
                else:
                    self._owner.fail(f"cannot list {self._store.root}: {exc}")
        return None
