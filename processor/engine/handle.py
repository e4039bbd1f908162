"""One record to one outcome: decode, validate, route; then emit, dead-letter or drop it.

The pipeline is a stranger's code: whatever its validators or ``route`` raise, return or fail to
return in time becomes the record's dead letter, never the processor's crash.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol

from pydantic import BaseModel

from processor.engine.deadletter import (
    Cause,
    Stage,
    dead_letter_headers,
    fit_dead_letter,
    source_header,
)
from processor.engine.decode import decode, describe_error
from processor.engine.emit import Backoff, Entry, Refusal
from processor.engine.executors import RouteRunner, RouteTimeout
from processor.engine.guard import DeadLetterGuard
from processor.engine.inflight import InFlight
from processor.engine.outcome import written
from processor.engine.recordsize import record_bytes
from processor.engine.stats import Stats
from processor.headers import EVENT_ID, SOURCE
from processor.logs import ThrottledWarnings, get_logger
from processor.pipeline import Drop, Headers, Output, Reject, Source

log = get_logger("processor.engine.handle")

# One handler_error warning per error class per interval: a failing dependency fails every record.
WARNING_INTERVAL_S = 30.0


class Writes(Protocol):
    """Where the handler's writes go: the emitter (or, in ``processor.testing``, a capture)."""

    @property
    def max_record_bytes(self) -> int: ...

    def submit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        token: InFlight,
        timestamp_ms: int | None = None,
    ) -> None: ...


class RecordHandler:
    """Turns each record into exactly one outcome and hands writes to the emitter."""

    def __init__(
        self,
        *,
        model: type[BaseModel],
        runner: RouteRunner,
        emitter: Writes,
        guard: DeadLetterGuard,
        stats: Stats,
        dlq_topic: str,
        output_topics: Collection[str],
        group_id: str,
        max_attempts: int,
        backoff: Backoff,
        finish: Callable[[InFlight], None],
        halt: Callable[[str], None],
        count_dead_letter: Callable[[InFlight, tuple[str, str]], None] | None = None,
    ) -> None:
        self._model = model
        self._call = runner.call
        self._route = runner.route  # per record: the route itself on the loop
        self._bounded = runner.bounded
        self._emitter = emitter
        self._guard = guard
        self._stats = stats
        self._dlq_topic = dlq_topic
        self._outputs = frozenset(output_topics)
        self._group_id = group_id
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._finish = finish
        self._halt = halt
        # Who counts a dead letter by (stage, class): the stats at once, or (exactly-once) the
        # transactions once the dead letter commits.
        self._count_dead_letter = count_dead_letter or self._count_at_once
        self._warnings = ThrottledWarnings(log, WARNING_INTERVAL_S)

    def handle(self, item: InFlight) -> Awaitable[None] | None:
        """Handle ``item``; returns an awaitable only when it must wait (async route, retry)."""
        record = self._validated(item)
        if record is None:
            return None
        try:
            outcome = self._route(record, item.source)
        except Exception as exc:
            return self._retry(item, record, exc)
        if type(outcome) is not Output and inspect.isawaitable(outcome):
            return self._settle(item, record, self._bounded(outcome))
        self._apply(item, outcome)
        return None

    def handle_batch(self, items: list[InFlight]) -> Awaitable[None] | None:
        """Handle a batch with one ``route_many`` call; returns an awaitable when it must wait."""
        valid: list[tuple[InFlight, BaseModel]] = []
        for item in items:
            record = self._validated(item)
            if record is not None:
                valid.append((item, record))
        if not valid:
            return None
        return self._route_batch(valid)

    def contain(self, item: InFlight, error: Exception) -> None:
        """Handling ``item`` raised past every check: make it a dead letter, keep going."""
        log.error("handler_bug", topic=item.source.topic, partition=item.source.partition,
                  offset=item.source.offset, error=_safe_repr(error))  # fmt: skip
        self._dead_letter(item, Cause("handler", type(error).__name__, describe_error(error)))

    def _validated(self, item: InFlight) -> BaseModel | None:
        """The record's validated model; None when it is settled already (dead letter, or its
        partition moved on)."""
        if item.tracker.revoked:
            self._finish(item)  # the partition moved on; its next owner reads this record again
            return None
        if item.failure is not None:  # the client library could not decode it
            self._dead_letter(item, item.failure)
            return None
        record = decode(self._model, item.value)
        if isinstance(record, Cause):
            self._dead_letter(item, record)
            return None
        return record

    async def _settle(self, item: InFlight, record: BaseModel, pending: Awaitable[Any]) -> None:
        try:
            outcome = await pending
        except Exception as exc:
            await self._retry(item, record, exc)
            return
        self._apply(item, outcome)

    async def _retry(self, item: InFlight, record: BaseModel, error: Exception) -> None:
        """Call ``route`` again after a back-off until it succeeds or attempts run out."""
        attempts = 1
        while attempts < self._max_attempts:
            await self._back_off(error, attempts, item.source)
            if item.tracker.revoked:
                self._finish(item)
                return
            attempts += 1
            try:
                outcome = self._call(record, item.source)
                if inspect.isawaitable(outcome):
                    outcome = await outcome
            except Exception as exc:
                error = exc
                continue
            self._apply(item, outcome)
            return
        self._dead_letter(item, _handler_cause(error, attempts))

    async def _route_batch(self, valid: list[tuple[InFlight, BaseModel]]) -> None:
        """One ``route_many`` call for the batch, retried whole; its outcomes one per record."""
        attempts = 1
        while True:
            if all(item.tracker.revoked for item, _ in valid):
                for item, _ in valid:
                    self._finish(item)
                return
            records = [record for _, record in valid]
            sources = [item.source for item, _ in valid]
            try:
                outcomes = self._call(records, sources)
                if inspect.isawaitable(outcomes):
                    outcomes = await outcomes
                _check_batch(outcomes, len(valid))
            except Exception as exc:
                if attempts >= self._max_attempts:
                    cause = _handler_cause(exc, attempts)
                    for item, _ in valid:
                        self._dead_letter(item, cause)
                    return
                await self._back_off(exc, attempts, sources[0])
                attempts += 1
                continue
            for (item, _), outcome in zip(valid, outcomes, strict=True):
                self._apply(item, outcome)
            return

    async def _back_off(self, error: Exception, attempts: int, source: Source) -> None:
        self._warnings.warning("handler_error", type(error), topic=source.topic,
                               partition=source.partition, offset=source.offset,
                               attempt=attempts, error=_safe_repr(error))  # fmt: skip
        self._stats.handler_retries += 1
        await asyncio.sleep(self._backoff.delay_s(attempts))

    def _apply(self, item: InFlight, outcome: object) -> None:
        if type(outcome) is Output:
            output = written(outcome, self._outputs)
            if isinstance(output, Cause):
                self._dead_letter(item, output)
                return
            if self._guard.observe(False):
                # The flood guard tripped on an earlier dead letter and the processor is
                # halting. This output is fine, yet it is deliberately not written: the halt
                # commits nothing more, so the record is read again after the restart, and
                # writing it now would only duplicate it then.
                return
            topic, value, key, headers, event_id = output
            added: Headers = ((SOURCE, source_header(item.source)),)
            if event_id is not None:
                added = ((EVENT_ID, event_id.encode()), *added)
            self._emitter.submit(topic, key, value, headers + added if headers else added, item)
        elif isinstance(outcome, Reject):
            reason, error_class = outcome.reason, outcome.error_class
            if not (isinstance(reason, str) and isinstance(error_class, str)):
                message = "route returned a Reject whose reason or error_class is not a str"
                self._dead_letter(item, Cause("route", "InvalidOutcome", message))
                return
            self._dead_letter(item, Cause("route", error_class or "Rejected", reason))
        elif isinstance(outcome, Drop):
            if self._guard.observe(False):
                return  # halting, as for an output above: not finished, so never committed
            self._stats.dropped += 1
            self._finish(item)
        else:
            message = f"route returned {type(outcome).__name__}, not Output, Reject or Drop"
            self._dead_letter(item, Cause("route", "InvalidOutcome", message))

    def refused(self, topic: str, entry: Entry[InFlight], refusal: Refusal) -> None:
        """The broker will not take a record: an output becomes a dead letter, a dead letter
        is cut down or stripped of what the topic refuses, and sent again."""
        item = entry.token
        if topic != self._dlq_topic:
            stage: Stage = "route" if refusal.too_large else "emit"
            message = f"{topic} refused the output: {refusal.message}"
            self._dead_letter(item, Cause(stage, refusal.error_class, message))
            return
        key, value, headers, timestamp_ms = (
            entry.key,
            entry.value,
            entry.headers,
            entry.timestamp_ms,
        )
        if refusal.too_large:
            # The topic takes less than a request: halve the dead letter until it fits.
            budget = record_bytes(key, value, headers) // 2
            key, value, headers = fit_dead_letter(key, value, headers, budget)
        elif timestamp_ms is not None or key is None:
            # A timestamp out of the topic's range, a null key on a compacted topic: send it
            # with the broker's time and the source coordinates as its key.
            key = key if key is not None else source_header(item.source)
            timestamp_ms = None
        else:
            key, value, headers = fit_dead_letter(key, value, headers, 0)
        if (key, value, headers, timestamp_ms) == entry[:4]:
            # Nothing left to cut: the topic refuses even our own headers. That is the
            # configuration's doing; retry slowly and loudly, never drop it.
            log.error("dead_letter_refused", topic=topic, error_class=refusal.error_class,
                      message=refusal.message)  # fmt: skip
            loop = asyncio.get_running_loop()
            loop.call_later(self._backoff.max_s, self._emitter.submit, topic, key, value,
                            headers, item, timestamp_ms)  # fmt: skip
            return
        self._emitter.submit(topic, key, value, headers, item, timestamp_ms)

    def _count_at_once(self, _: InFlight, cause: tuple[str, str]) -> None:
        self._stats.dead_lettered[cause] += 1

    def _dead_letter(self, item: InFlight, failure: Cause) -> None:
        source = item.source
        if self._guard.observe(True):
            self._halt(
                f"more than the allowed share of dead letters; last at "
                f"{source.topic}/{source.partition}/{source.offset}"
            )
            return
        self._count_dead_letter(item, (failure.stage, failure.error_class))
        log.info(
            "dead_letter",
            topic=source.topic,
            partition=source.partition,
            offset=source.offset,
            stage=failure.stage,
            error_class=failure.error_class,
            message=failure.message[:200],
        )
        headers = dead_letter_headers(source, failure, self._group_id)
        key, value, headers = fit_dead_letter(
            source.key, item.value, headers, self._emitter.max_record_bytes
        )
        self._emitter.submit(
            self._dlq_topic, key, value, headers, item, timestamp_ms=source.timestamp_ms
        )


class BatchMismatch(Exception):
    """``route_many`` did not return one outcome per record."""


def _check_batch(outcomes: object, count: int) -> None:
    if not isinstance(outcomes, list | tuple):
        raise BatchMismatch(f"route_many returned {type(outcomes).__name__}, not a list")
    if len(outcomes) != count:
        raise BatchMismatch(f"route_many returned {len(outcomes)} outcomes for {count} records")


def _handler_cause(error: Exception, attempts: int) -> Cause:
    error_class = "Timeout" if isinstance(error, RouteTimeout) else type(error).__name__
    return Cause("handler", error_class, describe_error(error), attempts=attempts)


def _safe_repr(error: BaseException) -> str:
    try:
        return repr(error)
    except Exception:
        return f"<{type(error).__name__}>"
