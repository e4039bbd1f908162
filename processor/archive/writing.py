"""The writing side: sealed files written one at a time off the event loop, then committed.

A write that fails (a full disk, a read-only folder, a store that is away) is the
environment's fault: it is retried with back-off, nothing is committed meanwhile, ``trouble``
says why (``/readyz`` shows it), and intake pauses once the held records reach their bound.
With ``--once`` the first failure ends the run instead: a job that runs to an end should fail
loudly, and the next run writes the same files.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import TopicPartition

from processor.archive.assignments import Partition, Partitions
from processor.archive.columns import Shape
from processor.archive.files import Withdrawn
from processor.archive.plan import ArchivePlan
from processor.archive.testhook import pause_here
from processor.archive.view import ArchiveStats
from processor.archive.writer import SealedFile, Written, write_file
from processor.engine.emit import Backoff
from processor.logs import ThrottledWarnings, get_logger

log = get_logger("processor.archive")
WARNING_INTERVAL_S = 30.0


@dataclass(frozen=True, slots=True)
class Job:
    partition: Partition  # the assignment it was read under: revoked, it is never written
    sealed: SealedFile


class FileWriter:
    def __init__(
        self,
        plan: ArchivePlan,
        stats: ArchiveStats,
        partitions: Partitions,
        backoff: Backoff,
        fail: Callable[[str], None],
    ) -> None:
        self._plan, self._stats, self._partitions = plan, stats, partitions
        self._backoff, self._fail = backoff, fail
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._writing: Job | None = None
        self._warnings = ThrottledWarnings(log, WARNING_INTERVAL_S)
        self.trouble: str | None = None
        self.sealed_bytes = 0
        self.sealed_records = 0

    @property
    def idle(self) -> bool:
        """Nothing sealed waits, nothing is being written."""
        return self._queue.empty() and self._writing is None

    def submit(self, job: Job) -> None:
        self._queue.put_nowait(job)
        self.sealed_bytes += job.sealed.bytes
        self.sealed_records += len(job.sealed.records)

    async def run(self) -> None:
        while True:
            job = await self._queue.get()
            self._writing = job
            try:
                if not job.partition.revoked:
                    await self._write(job)
            finally:
                self._writing = None
                self.sealed_bytes -= job.sealed.bytes
                self.sealed_records -= len(job.sealed.records)

    async def wait_for_writes_of(self, revoked: set[TopicPartition], timeout_s: float) -> None:
        """Let a file of a revoked partition that is being written land and be committed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self._writing is not None and self._writing.partition.tp in revoked:
                    await asyncio.sleep(0.01)

    async def _write(self, job: Job) -> None:
        failures = 0
        while True:
            try:
                written = await asyncio.to_thread(self._write_in_thread, job)
                break
            except Withdrawn:
                return  # revoked while it was written: the next owner writes these records
            except OSError as exc:
                failures += 1
                self._stats.write_failures += 1
                self.trouble = f"cannot write to {self._plan.store.root}: {exc}"
                self._warnings.warning("archive_write_failed", self.trouble,
                                       file=job.sealed.name.path(), error=str(exc))  # fmt: skip
                if self._plan.once:
                    self._fail(self.trouble)
                    return
                await asyncio.sleep(self._backoff.delay_s(failures))
                if job.partition.revoked:
                    return  # the next owner reads these records again
        self.trouble = None
        pause_here("commit")
        self._count(written)
        await self._partitions.commit(job.partition, written.name.last_offset + 1)

    def _write_in_thread(self, job: Job) -> Written:
        store, leftovers = self._plan.store, job.partition.leftovers
        while leftovers:  # before anything new: what a crash left of this partition's files
            store.delete(leftovers[-1])
            leftovers.pop()
        shape = self._plan.shapes.get(job.sealed.name.topic, Shape.raw())
        # Revoked while this runs (a rebalance that waited no longer), the file is not published:
        # the new owner, which lists the partition's files when it takes it, writes it instead.
        return write_file(store, shape, job.sealed, self._plan.compression,
                          lambda: not job.partition.revoked)  # fmt: skip

    def _count(self, written: Written) -> None:
        topic, stats = written.name.topic, self._stats
        stats.files[topic] += 1
        stats.rows[topic] += written.rows
        stats.invalid_rows[topic] += written.invalid_rows
        stats.file_bytes[topic] += written.file_bytes
        stats.last_file_at_s = time.time()
        log.debug("archive_file_written", file=written.name.path(), rows=written.rows,
                  invalid_rows=written.invalid_rows, bytes=written.file_bytes)  # fmt: skip
