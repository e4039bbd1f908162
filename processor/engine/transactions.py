"""Exactly-once: each input partition's outputs, dead letters and offset commit in one transaction.

Fencing. Every input partition has its own transactional producer, with the transactional id
``<group>-<topic>-<partition>``. The next owner of a partition starts a producer with the same id;
its initialisation bumps the id's epoch, and the broker refuses anything more from the old one.
So an instance that was paused past its session timeout (a zombie) cannot commit outputs or
offsets for a partition it lost. This is the scheme Kafka Streams used before KIP-447. aiokafka's
offset commit in a transaction (TxnOffsetCommit v0) carries no group generation, so the group
alone could not fence.

A partition's transaction is cut just past the last record with a write in it. Writes of records
at or past the cut wait (buffered) until it commits. Once every record below the cut is done
(its writes acknowledged, or dropped), the offset after them goes into the transaction and it
commits. A failure aborts: the partition restarts from its last committed offset and the records
since are read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    ProducerFenced,
    TransactionalIdAuthorizationFailed,
)

from processor.engine.cancel import cancel_and_wait
from processor.engine.commit import commit_every
from processor.engine.committime import with_time
from processor.engine.emit import REFUSED, TOO_LARGE, Entry, Refusal, refusal_of
from processor.engine.inflight import InFlight
from processor.engine.offsets import OffsetTracker
from processor.engine.recordsize import record_bytes
from processor.engine.stats import Stats
from processor.logs import get_logger
from processor.pipeline import Headers

log = get_logger("processor.engine.transactions")

# The partition is someone else's now: never retried, the partition is given up.
FENCED = (ProducerFenced, InvalidProducerEpoch, TransactionalIdAuthorizationFailed)
# How many fenced partitions readiness names.
FENCED_SHOWN = 5
# How often a commit looks whether the records below its cut are done.
CUT_POLL_S = 0.002
# The shortest time between two rounds of commits: each transaction costs a few round trips.
MIN_GAP_S = 0.1
# How long closing waits for a partition's sender to end.
SENDER_STOP_S = 2.0


def _unwired(*_: object) -> None:
    raise RuntimeError("the transactions report to no one: call listen() first")


def transactional_id(group_id: str, tp: TopicPartition) -> str:
    return f"{group_id}-{tp.topic}-{tp.partition}"


@dataclass(eq=False)
class _Partition:
    tp: TopicPartition
    producer: AIOKafkaProducer
    committed: int | None = None  # after the last commit of this assignment
    cut: int | None = None  # while a commit waits: outputs of records at or past it wait too
    queue: deque[Entry[InFlight]] = field(default_factory=deque)  # to send, in order
    waiting: list[Entry[InFlight]] = field(default_factory=list)  # past the cut
    topics: deque[str] = field(default_factory=deque)  # the topic of each queued entry
    waiting_topics: list[str] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    failure: BaseException | None = None
    fenced: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    sender: asyncio.Task[None] | None = None
    sent_since_commit: int = 0
    max_sent: int = -1  # the highest source offset with a write in the open transaction
    failed: list[InFlight] = field(default_factory=list)  # sent, refused: never done
    # Writes the broker refused for what they hold, by (source offset, topic): when the record
    # comes again after the restart, it is handed to the handler as refused, not sent.
    refusals: dict[tuple[int, str], Refusal] = field(default_factory=dict)
    suspects: set[tuple[int, str]] = field(default_factory=set)  # in a batch that was refused
    # The (stage, class) of each dead letter in the open transaction, by source offset: counted
    # in the stats once it commits, forgotten if it aborts (the record is read again).
    dead: dict[int, tuple[str, str]] = field(default_factory=dict)

    def committed_below(self, offset: int) -> list[tuple[str, str]]:
        """Records below ``offset`` are committed, never read again here: forget what was
        learned of them, and return their dead letters' causes."""
        self.refusals = {where: r for where, r in self.refusals.items() if where[0] >= offset}
        self.suspects = {where for where in self.suspects if where[0] >= offset}
        done = [cause for source, cause in self.dead.items() if source < offset]
        self.dead = {source: cause for source, cause in self.dead.items() if source >= offset}
        return done


class Transactions:
    """The exactly-once writer (the handler's ``Writes``) and committer (the assignments')."""

    def __init__(
        self,
        *,
        make_producer: Callable[[str], AIOKafkaProducer],
        group_id: str,
        trackers: Mapping[TopicPartition, OffsetTracker],
        stats: Stats,
        max_record_bytes: int,
        max_records: int,
        restart: Callable[[TopicPartition, int | None], None],
        position: Callable[[TopicPartition], int],
    ) -> None:
        self._make_producer = make_producer
        self._group_id = group_id
        self._trackers = trackers
        self._stats = stats
        self.max_record_bytes = max_record_bytes
        self._max_records = max_records
        # Who hears of each record's end (listen()), as for the emitter.
        self._acknowledged: Callable[[list[InFlight]], None] = _unwired
        self._refused: Callable[[str, Entry[InFlight], Refusal], None] = _unwired
        self._restart = restart
        self._position = position
        self._partitions: dict[TopicPartition, _Partition] = {}
        self.committed: dict[tuple[str, int], int] = {}
        self.enabled = True  # off for good after a halt: nothing more commits
        self._caught_up = asyncio.Event()
        self.pending = 0

    def listen(
        self,
        *,
        acknowledged: Callable[[list[InFlight]], None],
        refused: Callable[[str, Entry[InFlight], Refusal], None],
    ) -> None:
        """Name who hears of each record's end: done once its writes are acknowledged (the
        assignments), or refused by the size check (the handler)."""
        self._acknowledged, self._refused = acknowledged, refused

    # -- the handler's writes

    def submit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        token: InFlight,
        timestamp_ms: int | None = None,
    ) -> None:
        """Queue one record in the transaction of its input partition."""
        source = token.source
        tp = TopicPartition(source.topic, source.partition)
        if token.tracker.revoked:  # an old assignment or attempt: nothing of it commits
            self._acknowledged([token])
            return
        p = self._partitions[tp]  # opened before its records are taken in
        entry = Entry(key, value, headers, timestamp_ms, token)
        if record_bytes(key, value, headers) > self.max_record_bytes:
            message = f"more than the {self.max_record_bytes} bytes a request takes"
            self._refused(topic, entry, Refusal("RecordTooLarge", message, too_large=True))
            return
        # Kept until a commit passes the record: the transaction that carries its dead letter
        # may abort (for another record's write), and the record is then read again.
        refusal = p.refusals.get((source.offset, topic)) if p.refusals else None
        if refusal is not None:
            self._refused(topic, entry, refusal)
            return
        self.pending += 1
        if p.cut is not None and source.offset >= p.cut:
            p.waiting.append(entry)
            p.waiting_topics.append(topic)
            return
        if source.offset > p.max_sent:
            p.max_sent = source.offset
        p.queue.append(entry)
        p.topics.append(topic)
        p.wake.set()

    def dead_lettered(self, token: InFlight, cause: tuple[str, str]) -> None:
        """The handler made a dead letter of ``token``: count it once its transaction commits."""
        source = token.source
        p = self._partitions.get(TopicPartition(source.topic, source.partition))
        if p is not None and not token.tracker.revoked:
            p.dead[source.offset] = cause

    # -- assignments

    async def open(self, partitions: Iterable[TopicPartition]) -> None:
        """Start a transactional producer for each newly assigned partition (fencing any
        earlier owner's) and begin its first transaction."""
        for tp in partitions:
            producer = self._make_producer(transactional_id(self._group_id, tp))
            await producer.start()
            await producer.begin_transaction()
            p = _Partition(tp, producer)
            p.sender = asyncio.get_running_loop().create_task(self._send_forever(p))
            self._partitions[tp] = p
            self.committed.pop((tp.topic, tp.partition), None)

    async def close(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Give partitions up: abort what is open (nothing more of theirs commits), stop."""
        chosen = list(self._partitions) if partitions is None else list(partitions)
        for tp in chosen:
            p = self._partitions.pop(tp, None)
            if p is None:
                continue
            if p.sender is not None:
                await cancel_and_wait([p.sender], SENDER_STOP_S)
            self._let_go(p)
            if not p.fenced:
                await _abort_transaction(p.producer)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(p.producer.stop(), SENDER_STOP_S)

    @property
    def trouble(self) -> str | None:
        """Readiness: the partitions given up because another producer fenced this one's."""
        fenced = sorted(
            f"{tp.topic}/{tp.partition}" for tp, p in self._partitions.items() if p.fenced
        )
        if not fenced:
            return None
        shown = ", ".join(fenced[:FENCED_SHOWN]) + (" …" if len(fenced) > FENCED_SHOWN else "")
        return f"fenced by another producer, given up until the next rebalance: {shown}"

    # -- commits

    def caught_up(self) -> None:
        self._caught_up.set()

    async def commit(self, partitions: set[TopicPartition] | None = None) -> bool:
        """Commit the transaction of each partition (default: all held); False if any failed
        (it was aborted, and the partition restarted from its last commit)."""
        if not self.enabled:
            return False
        held = [p for tp, p in self._partitions.items() if partitions is None or tp in partitions]
        # Each partition has its own producer: their transactions commit side by side.
        return all(await asyncio.gather(*(self._commit(p) for p in held)))

    async def run(self, interval_s: float) -> None:
        """Commit every ``interval_s``; sooner (but not more often than every
        ``MIN_GAP_S``) once everything is done, a transaction is big or one failed."""
        await commit_every(self.commit, self._caught_up, interval_s, MIN_GAP_S)

    async def _commit(self, p: _Partition) -> bool:
        async with p.lock:
            if p.fenced:
                return False
            if p.failure is not None:
                await self._abort(p)
                return False
            tracker = self._trackers.get(p.tp)
            if tracker is None:
                return True
            done = tracker.committable()
            if done is None or (p.max_sent < 0 and done == p.committed):
                return True  # nothing new since the last commit
            # The cut: past every record with a write in this transaction. Records below it
            # still running finish into it; writes of records at or past it wait for the next.
            cut = max(done, p.max_sent + 1)
            p.cut = cut
            try:
                while (done := tracker.committable()) is not None and done < cut:
                    if p.failure is not None or tracker.revoked or not self.enabled:
                        break
                    await asyncio.sleep(CUT_POLL_S)
                if p.failure is not None or tracker.revoked or not self.enabled:
                    if p.failure is not None:
                        await self._abort(p)
                    return False
                offset = tracker.committable() or cut
                if tracker.window == 0:  # past transaction markers the consumer passed over
                    offset = max(offset, self._position(p.tp))
                try:
                    stamped = with_time({p.tp: offset}, time.time())
                    await p.producer.send_offsets_to_transaction(stamped, self._group_id)
                    await p.producer.commit_transaction()
                    await p.producer.begin_transaction()
                except KafkaError as exc:
                    p.failure = exc
                    await self._abort(p)
                    return False
                p.committed = offset
                self._stats.dead_lettered.update(p.committed_below(offset))
                p.sent_since_commit = 0
                p.max_sent = -1
                self.committed[(p.tp.topic, p.tp.partition)] = offset
                self._stats.commits += 1
                return True
            finally:
                p.cut = None
                self._release_waiting(p)

    def _release_waiting(self, p: _Partition) -> None:
        for entry in p.waiting:  # they go into the next transaction
            p.max_sent = max(p.max_sent, entry.token.source.offset)
        p.queue.extend(p.waiting)
        p.topics.extend(p.waiting_topics)
        p.waiting.clear()
        p.waiting_topics.clear()
        if p.queue:
            p.wake.set()

    # -- sending

    async def _send_forever(self, p: _Partition) -> None:
        while True:
            if not p.queue or p.failure is not None:
                p.wake.clear()
                await p.wake.wait()
                continue
            entry, topic = p.queue.popleft(), p.topics.popleft()
            token = entry.token
            if token.tracker.revoked:  # from before a restart: let go
                self.pending -= 1
                self._acknowledged([token])
                continue
            where = (token.source.offset, topic)
            alone = where in p.suspects
            try:
                if alone:  # in a batch of its own: if the broker refuses it, it is at fault
                    await p.producer.flush()
                sent = await p.producer.send(topic, entry.value, key=entry.key,
                                             headers=list(entry.headers),
                                             timestamp_ms=entry.timestamp_ms)  # fmt: skip
            except KafkaError as exc:
                self._fail(p, exc)
                self._requeue(p, entry, topic)
                continue
            p.sent_since_commit += 1
            # Registered before any wait below, so it has run (and marked a failure) by the
            # time this loop goes on; and the outcome is heard even if this task is cancelled.
            sent.add_done_callback(
                lambda future, token=token, topic=topic, alone=alone: self._sent(
                    p, token, topic, future, alone
                )
            )
            if alone:
                await asyncio.wait([sent])
            if p.sent_since_commit >= self._max_records:
                self._caught_up.set()  # a big transaction: commit soon

    def _sent(
        self,
        p: _Partition,
        token: InFlight,
        topic: str,
        future: asyncio.Future[Any],
        alone: bool = False,
    ) -> None:
        self.pending -= 1
        error = None if future.cancelled() else future.exception()
        if future.cancelled() or error is not None:
            if token.tracker.revoked:  # an earlier attempt's: nothing of it commits
                self._acknowledged([token])
                return
            # Never done: a transaction may commit without a batch that failed (aiokafka does
            # not fail the commit for it), and a record left open is never committed past.
            # The partition restarts before its next commit, and the record is read again.
            p.failed.append(token)
            if isinstance(error, (*TOO_LARGE, *REFUSED)):  # a record's fault, not the cluster's
                # The broker refuses a whole batch for one record in it: a record refused in a
                # batch is a suspect, sent alone next time; refused alone, it is at fault.
                where = (token.source.offset, topic)
                if alone:
                    p.refusals[where] = refusal_of(error)
                    p.suspects.discard(where)
                else:
                    p.suspects.add(where)
            self._fail(p, error or asyncio.CancelledError())
            return
        if alone:
            p.suspects.discard((token.source.offset, topic))
        self._stats.acknowledged[topic] += 1
        self._acknowledged([token])

    def _requeue(self, p: _Partition, entry: Entry[InFlight], topic: str) -> None:
        p.queue.appendleft(entry)
        p.topics.appendleft(topic)

    def _fail(self, p: _Partition, error: BaseException) -> None:
        if p.failure is None:
            p.failure = error
            p.fenced = isinstance(error, FENCED)
            log.warning("transaction_failed", topic=p.tp.topic, partition=p.tp.partition,
                        error=repr(error), fenced=p.fenced)  # fmt: skip
            self._caught_up.set()  # the commit loop aborts it now

    async def _abort(self, p: _Partition) -> None:
        """Abort the open transaction and restart the partition from its last commit.

        The old producer aborts first. If it is fenced, another instance owns the partition now
        (this one was paused past its session: a zombie) and the partition is given up: a new
        producer's initialisation would fence the owner in turn. Otherwise a new producer under
        the same transactional id goes on: its sequence numbers start afresh (a refused batch
        leaves the old producer's out of step with the broker's, and aiokafka does not reset
        them).
        """
        if p.fenced:
            return
        if p.sender is not None:  # it may be waiting on the old producer
            await cancel_and_wait([p.sender], SENDER_STOP_S)
        fence = await _abort_transaction(p.producer)
        if fence is not None:
            p.fenced = True
            log.warning("partition_fenced", topic=p.tp.topic, partition=p.tp.partition,
                        error=repr(fence))  # fmt: skip
            return
        self._let_go(p)
        self._restart(p.tp, p.committed)
        old, p.producer = p.producer, self._make_producer(transactional_id(self._group_id, p.tp))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(old.stop(), SENDER_STOP_S)
        self._stats.producer_retries += 1
        p.failure = None
        p.sent_since_commit = 0
        p.max_sent = -1
        await p.producer.start()
        await p.producer.begin_transaction()
        p.sender = asyncio.get_running_loop().create_task(self._send_forever(p))

    def _let_go(self, p: _Partition) -> None:
        """The aborted transaction's records that are queued, waiting or failed are let go,
        uncommitted (the partition restarts from its last commit right after)."""
        for entry in [*p.queue, *p.waiting]:
            self.pending -= 1
            self._acknowledged([entry.token])
        self._acknowledged(p.failed)
        p.failed.clear()
        p.dead.clear()
        p.queue.clear()
        p.topics.clear()
        p.waiting.clear()
        p.waiting_topics.clear()


async def _abort_transaction(producer: AIOKafkaProducer) -> BaseException | None:
    """Abort ``producer``'s open transaction; the error if it is fenced (another instance has
    the transactional id now), else None, also when it could not abort (a broken producer: the
    next producer's initialisation aborts what it left open)."""
    try:
        await asyncio.wait_for(producer.abort_transaction(), SENDER_STOP_S)
    except FENCED as exc:
        fenced: BaseException = exc
        return fenced
    except AssertionError:
        # aiokafka's producer in its fatal state (its sender died) refuses any transition with
        # a bare assert; the sender's error says why.
        cause = _sender_error(producer)
        return cause if isinstance(cause, FENCED) else None
    except (KafkaError, TimeoutError):
        pass
    return None


def _sender_error(producer: AIOKafkaProducer) -> BaseException | None:
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if isinstance(task, asyncio.Task) and task.done() and not task.cancelled():
        error: BaseException | None = task.exception()
        return error
    return None
