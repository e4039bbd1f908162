"""The processor: wires intake, scheduler, handler, emitter and assignments, and runs them.

consumer -> Intake -> Scheduler -> RecordHandler -> Emitter -> broker ack
               ^                      ^ refused      |            |
               |                      +--------------+            |
               +-- FlowControl <-- Assignments (trackers, commits) <--+ acknowledged

It does wiring and lifecycle only: start-up, serving, the drain, closing, halting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError

from processor.config import Settings, kafka_client_options
from processor.connect import ClusterUnreachable, held_library_logs, reason
from processor.engine.assignments import Assignments
from processor.engine.cancel import cancel_and_wait
from processor.engine.emit import Backoff, Emitter
from processor.engine.executors import ExecutorError, RouteRunner
from processor.engine.flow import FlowControl
from processor.engine.gc_thresholds import tune_garbage_collector
from processor.engine.guard import DeadLetterGuard
from processor.engine.handle import RecordHandler
from processor.engine.inflight import InFlight
from processor.engine.intake import Intake
from processor.engine.latency import LatencyHistogram
from processor.engine.offsets import OffsetTracker
from processor.engine.positions import PartitionPosition, partition_positions
from processor.engine.scheduler import Scheduler
from processor.engine.stats import Stats
from processor.engine.transactions import Transactions, transactional_id
from processor.logs import get_logger
from processor.pipeline import PipelineLike, check_pipeline, is_batch
from processor.security.permissions import PermissionMissing, group_refusal_line, processor_needs
from processor.security.refusals import refusal
from processor.topology import written_topics

log = get_logger("processor.engine.processor")

# Room for the batch and record framing around the largest single record we send.
RECORD_OVERHEAD_BYTES = 1024

EXIT_OK = 0
EXIT_HALTED = 3
EXIT_STARTUP = 4  # the cluster or a topic the settings name could not be had in time

# The consumer leaving its group and the HTTP server closing, after the shutdown timeout.
CLOSE_GRACE_S = 5.0


class StartupError(Exception):
    """The processor cannot start: one readable line naming the cause."""


class Processor:
    """One instance of the processor in its consumer group."""

    def __init__(self, settings: Settings, pipeline: PipelineLike) -> None:
        check_pipeline(pipeline, type(pipeline).__name__)
        self.settings = settings
        self.pipeline = pipeline
        self.stats = Stats()
        self.flow = FlowControl(
            settings.queue_max_records, settings.queue_max_bytes, settings.queue_resume_ratio
        )
        self.halted: str | None = None
        self.starting: str | None = None  # what start-up waits for (readiness)
        self._stop = asyncio.Event()
        self._stopped_at: float | None = None  # time.monotonic() of the first stop()
        self._crash: BaseException | None = None
        backoff = self._backoff = Backoff(settings.retry_backoff_s, settings.retry_backoff_max_s)
        self.consumer = _consumer(settings)
        self.transactions: Transactions | None = None
        exactly_once = settings.guarantee == "exactly-once"
        self.assignments = Assignments(
            self.consumer, self.flow, self.stats, settings.revoke_timeout_s,
            self._make_transactions if exactly_once else None,
            lambda tp: self.intake.passed(tp),
        )  # fmt: skip
        self.committer = self.assignments.committer
        self.emitter: Emitter[InFlight] = Emitter(
            lambda: _producer(settings), self.stats, backoff,
            max_record_bytes=settings.max_request_size - RECORD_OVERHEAD_BYTES,
            make_single_producer=lambda: _producer(settings, idempotent=False),
        )  # fmt: skip
        self.runner = RouteRunner(pipeline, settings.route_timeout_s, settings.executor_workers)
        self.handler = RecordHandler(
            model=pipeline.model,
            runner=self.runner,
            emitter=self.transactions or self.emitter,
            count_dead_letter=self.transactions.dead_lettered if self.transactions else None,
            guard=DeadLetterGuard(settings.dlq_window, settings.dlq_max_ratio),
            stats=self.stats,
            dlq_topic=settings.dead_letter_topic,
            output_topics=pipeline.output_topics(settings.input_topic),
            group_id=settings.group_id,
            max_attempts=settings.handler_max_attempts,
            backoff=backoff,
            finish=self.assignments.finish,
            halt=self.halt,
        )
        self.emitter.listen(acknowledged=self.assignments.finish_all,
                            refused=self.handler.refused, crashed=self.crashed)  # fmt: skip
        if self.transactions is not None:
            self.transactions.listen(
                acknowledged=self.assignments.finish_all, refused=self.handler.refused
            )
        batches = is_batch(pipeline)
        self.scheduler = Scheduler(
            concurrency=settings.concurrency,
            ordering=settings.ordering,
            handle=self.handler.handle,
            contain=self.handler.contain,
            handle_batch=self.handler.handle_batch if batches else None,
            batch_max=settings.batch_max_records if batches else 1,
            batch_wait_s=settings.batch_max_wait_ms / 1000 if batches else 0.0,
        )
        read_committed = settings.isolation_level == "read_committed"
        self.intake = Intake(self.consumer, self.flow, self.assignments.tracker, self.scheduler,
                             self.stats, backoff, settings.max_partition_fetch_bytes,
                             read_committed)  # fmt: skip

    def _make_transactions(self, trackers: Mapping[TopicPartition, OffsetTracker]) -> Transactions:
        s = self.settings
        self.transactions = Transactions(
            make_producer=lambda transactional_id: _producer(s, transactional_id=transactional_id),
            group_id=s.group_id,
            trackers=trackers,
            stats=self.stats,
            max_record_bytes=s.max_request_size - RECORD_OVERHEAD_BYTES,
            max_records=s.transaction_max_records,
            restart=self._restart_partition,
            position=lambda tp: self.intake.passed(tp),
        )
        return self.transactions

    async def start_at_committed(self, partitions: set[TopicPartition]) -> None:
        """Read ``partitions`` from their committed offsets as they are now.

        Exactly-once: the consumer may have fetched them before this instance's producers
        fenced the earlier owners. The last transaction of an earlier owner may then have been
        committing (its offsets not visible yet): fencing settles it, so asking again now gives
        the offsets it committed, and its records are not routed twice.
        """
        committed = {tp: await self.consumer.committed(tp) for tp in sorted(partitions)}
        for tp, offset in committed.items():  # in one step: intake seeks nothing in between
            if offset is not None:
                self.consumer.seek(tp, offset)

    def _restart_partition(self, tp: TopicPartition, committed: int | None) -> None:
        """Read ``tp`` again from its last commit (its transaction was aborted): in one step,
        with nothing taken in between."""
        released = self.scheduler.release_queued({(tp.topic, tp.partition): -1})
        old = self.assignments.restart(tp, released)
        self.intake.forget({tp})
        start = committed if committed is not None else (old.first if old else None)
        if start is not None:
            self.consumer.seek(tp, start)
        log.warning("partition_restarted", topic=tp.topic, partition=tp.partition, offset=start)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Begin a clean shutdown (what SIGTERM and SIGINT do)."""
        if self._stopped_at is None:
            self._stopped_at = time.monotonic()
        self._stop.set()

    def _shutdown_left_s(self) -> float:
        """What is left of the shutdown timeout, counted from the stop (or from now)."""
        since = 0.0 if self._stopped_at is None else time.monotonic() - self._stopped_at
        return max(self.settings.shutdown_timeout_s - since, 0.0)

    def halt(self, reason: str) -> None:
        """Stop at once without committing anything more (the dead-letter flood guard)."""
        if self.halted is None:
            self.halted = reason
            self.committer.enabled = False
            log.error("halted", reason=reason)
            self._stop.set()

    def crashed(self, error: BaseException) -> None:
        log.error("task_crashed", error=repr(error))
        self._crash = self._crash or error
        self.committer.enabled = False
        self._stop.set()

    async def run(self) -> int:
        """Run until ``stop()`` or a halt; returns the process exit code.

        Raises :class:`StartupError` when the cluster or a topic cannot be had within
        ``startup_timeout_s``. A stop at any moment, start-up included, ends it within
        ``shutdown_timeout_s`` (plus a few seconds to leave the group).
        """
        tune_garbage_collector()
        try:
            if await self._unless_stopped(self._start()):
                await self._serve()
        finally:
            await self._close()
        return EXIT_HALTED if self.halted else EXIT_OK

    async def _unless_stopped(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run ``work`` unless a stop comes first (then cancel it); True if it finished."""
        loop = asyncio.get_running_loop()
        task, stop = loop.create_task(work), loop.create_task(self._stop.wait())
        await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not task.done():
            await cancel_and_wait((task,), CLOSE_GRACE_S)
            return False
        task.result()
        return True

    async def _start(self) -> None:
        """Start the pipeline, reach the cluster and find every topic, or fail within the
        start-up timeout."""
        s = self.settings
        outputs = written_topics(s, self.pipeline)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.startup_timeout_s
        try:
            await self.runner.start(s.startup_timeout_s)
        except ExecutorError as exc:
            raise StartupError(str(exc)) from None
        attempt = 0
        while (problem := await self._start_problem(outputs, deadline - loop.time())) is not None:
            self.starting = problem
            if loop.time() >= deadline:
                raise StartupError(f"{problem} (waited {s.startup_timeout_s:g} s)")
            if attempt % 10 == 0:  # every few seconds, not every try
                log.warning("waiting_to_start", problem=problem)
            attempt += 1
            await asyncio.sleep(min(self._backoff.delay_s(attempt), 1.0))
        await self.emitter.learn_partitions(outputs)
        self.consumer.subscribe([s.input_topic], listener=_Rebalance(self))
        try:
            async with asyncio.timeout(max(deadline - loop.time(), CLOSE_GRACE_S)):
                await self.consumer.start()
        except GroupAuthorizationFailedError:
            raise PermissionMissing(group_refusal_line(s, s.group_id)) from None
        except (KafkaError, TimeoutError) as exc:
            raise StartupError(f"the consumer could not start: {exc!r}") from None
        self.starting = None
        log.info("started", input_topic=s.input_topic, outputs=outputs, group_id=s.group_id)

    async def _start_problem(self, outputs: list[str], timeout_s: float) -> str | None:
        """What start-up still waits for: the cluster, or topics; None when all is there.

        Bounded by ``timeout_s``: a listener that accepts connections and never answers would
        hold the producer's start for its request timeout.
        """
        s = self.settings
        held: list[logging.LogRecord] = []
        try:
            async with asyncio.timeout(max(timeout_s, 0.1)):
                if not self.emitter.started:
                    # The library's own line says why; it becomes this problem's reason.
                    with held_library_logs() as held:
                        await self.emitter.start_producer()
                needs = processor_needs(s, outputs)
                await self.emitter.refuse_missing_permissions(s, needs, self._transactional_ids())
                missing = await self.emitter.missing_topics([s.input_topic, *outputs])
        except (TimeoutError, KafkaError) as exc:
            refused = await refusal(s, exc, held)
            if refused is not None:
                raise refused from None  # the configuration's: waiting cannot help
            return str(ClusterUnreachable(s.bootstrap_servers, reason(exc, held)))
        if not missing:
            return None
        roles = {s.input_topic: "input", s.dead_letter_topic: "dead letters"}
        named = ", ".join(f"{topic} ({roles.get(topic, 'output')})" for topic in missing)
        fix = "create them (processor topics ensure) or correct the settings"
        return f"topics missing: {named}; {fix}"

    def _transactional_ids(self) -> list[str]:
        """One of the transactional ids exactly-once will use, to check its permission early."""
        s = self.settings
        if s.guarantee != "exactly-once":
            return []
        return [transactional_id(s.group_id, TopicPartition(s.input_topic, 0))]

    async def _serve(self) -> None:
        self.scheduler.start()
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(self.intake.run()),
            *self.scheduler.tasks,
            loop.create_task(self.committer.run(self.settings.commit_interval_ms / 1000)),
        ]
        stop = loop.create_task(self._stop.wait())
        done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
        self.intake.stop()
        crashed = [task for task in done if task is not stop]
        if not crashed and not self.halted and self._crash is None:
            await self._drain()
        await cancel_and_wait([stop, *tasks], CLOSE_GRACE_S)
        for task in crashed:
            raise task.exception() or RuntimeError("a processor task ended unexpectedly")
        if self._crash is not None:
            raise self._crash

    async def _drain(self) -> None:
        """Finish what was taken in, then commit it all, within the shutdown timeout."""
        log.info("draining", in_flight=self.flow.records, timeout_s=self._shutdown_left_s())
        while self.flow.records > 0 and self._shutdown_left_s() > 0:
            await asyncio.sleep(0.01)
        if self.flow.records:
            log.warning("drain_timed_out", unfinished=self.flow.records)
        try:  # the coordinator may be as unreachable as the outputs were
            await asyncio.wait_for(self.committer.commit(), max(self._shutdown_left_s(), 1.0))
        except TimeoutError:
            log.warning("final_commit_timed_out")
        log.info("drained", committed=len(self.committer.committed))

    async def _close(self) -> None:
        """Stop everything, the producer's flush within what is left of the shutdown timeout."""
        self.assignments.joined = False
        await self.scheduler.stop()
        try:  # leaves the group; nothing is committed here
            await asyncio.wait_for(self.consumer.stop(), CLOSE_GRACE_S)
        except asyncio.CancelledError as exc:
            # aiokafka's fetcher lets the cancellation of its own retry back-off out of stop();
            # only a cancellation of this task itself goes on.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            log.warning("consumer_close_failed", error=repr(exc))
        except Exception as exc:
            log.warning("consumer_close_failed", error=repr(exc))
        try:
            await self.emitter.close(max(self._shutdown_left_s(), 1.0))
        except Exception as exc:
            log.warning("producer_close_failed", error=repr(exc))
        if self.transactions is not None:  # what is still open was not committed: abort it
            await self.transactions.close()
        await self.runner.close(CLOSE_GRACE_S)
        log.info("stopped", halted=self.halted)

    # What telemetry reads (processor.engine.view.EngineView), besides the attributes above.
    @property
    def latency(self) -> LatencyHistogram:
        return self.assignments.latency

    @property
    def joined(self) -> bool:
        return self.assignments.joined

    @property
    def dead_letter_topic(self) -> str:
        return self.settings.dead_letter_topic

    @property
    def pending_writes(self) -> int:
        return self.emitter.pending

    @property
    def paused_partitions(self) -> int:
        return len(self.consumer.paused())

    @property
    def producer_started(self) -> bool:
        return self.emitter.started

    def positions(self) -> list[PartitionPosition]:
        return partition_positions(
            self.consumer, self.assignments.trackers, self.committer.committed
        )

    @property
    def trouble(self) -> str | None:
        """Why the instance cannot do its job right now (readiness), or None."""
        if self.starting is not None:
            return self.starting
        fenced = self.transactions.trouble if self.transactions is not None else None
        return next(iter(self.emitter.failing.values()), None) or self.intake.trouble or fenced


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """The group's rebalance callbacks: the assignments change; intake pauses anew."""

    def __init__(self, processor: Processor) -> None:
        self._processor = processor

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        p = self._processor
        await p.assignments.revoke(set(revoked), p.scheduler)
        if p.transactions is not None:
            await p.transactions.close(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        p = self._processor
        if p.transactions is not None:  # fences the partitions' earlier owners first
            await p.transactions.open(set(assigned))
            await p.start_at_committed(set(assigned))
        p.assignments.assign(set(assigned))
        p.intake.reapply_pause(set(assigned))


def _consumer(s: Settings) -> AIOKafkaConsumer:
    options: dict[str, Any] = kafka_client_options(s)
    return AIOKafkaConsumer(
        **options,
        client_id=s.kafka_client_id,
        group_id=s.group_id,
        group_instance_id=s.group_instance_id,
        enable_auto_commit=False,
        auto_offset_reset=s.auto_offset_reset,
        isolation_level=s.isolation_level,
        max_poll_interval_ms=s.max_poll_interval_ms,
        session_timeout_ms=s.session_timeout_ms,
        heartbeat_interval_ms=s.heartbeat_interval_ms,
        rebalance_timeout_ms=s.max_poll_interval_ms,
        max_partition_fetch_bytes=s.max_partition_fetch_bytes,
        fetch_max_bytes=s.fetch_max_bytes,
        max_poll_records=s.queue_max_records,
    )


def _producer(
    s: Settings, idempotent: bool = True, transactional_id: str | None = None
) -> AIOKafkaProducer:
    options: dict[str, Any] = kafka_client_options(s)
    return AIOKafkaProducer(
        **options,
        client_id=s.kafka_client_id,
        enable_idempotence=idempotent,
        transactional_id=transactional_id,
        acks="all",
        max_batch_size=s.producer_batch_bytes,
        linger_ms=s.producer_linger_ms,
        request_timeout_ms=s.producer_request_timeout_ms,
        max_request_size=s.max_request_size,
        compression_type=None if s.compression == "none" else s.compression,
    )
