"""One record to one outcome: decode, validate, route; then emit, dead-letter or drop it."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from processor import headers as h
from processor.deadletter import dead_letter_headers, source_header
from processor.decode import Failure, decode
from processor.emit import Backoff, Emitter, Entry
from processor.guard import DeadLetterGuard
from processor.headers import EVENT_ID, SOURCE
from processor.inflight import InFlight
from processor.logs import get_logger
from processor.pipeline import Drop, Headers, Output, Pipeline, Reject
from processor.stats import Stats

log = get_logger("processor.handle")


class RecordHandler:
    """Turns each record into exactly one outcome and hands writes to the emitter."""

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        emitter: Emitter[InFlight],
        guard: DeadLetterGuard,
        stats: Stats,
        dlq_topic: str,
        group_id: str,
        max_attempts: int,
        backoff: Backoff,
        finish: Callable[[InFlight], None],
        halt: Callable[[str], None],
    ) -> None:
        self._pipeline = pipeline
        self._model = pipeline.model
        self._emitter = emitter
        self._guard = guard
        self._stats = stats
        self._dlq_topic = dlq_topic
        self._group_id = group_id
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._finish = finish
        self._halt = halt

    def handle(self, item: InFlight) -> Awaitable[None] | None:
        """Handle ``item``; returns an awaitable only when it must wait (async route, retry)."""
        if item.tracker.revoked:
            self._finish(item)  # the partition moved on; its next owner reads this record again
            return None
        record = decode(self._model, item.value)
        if isinstance(record, Failure):
            self._dead_letter(item, record)
            return None
        try:
            outcome = self._pipeline.route(record, item.source)
        except Exception as exc:
            return self._retry(item, record, exc)
        if type(outcome) is not Output and inspect.isawaitable(outcome):
            return self._settle(item, record, outcome)
        self._apply(item, outcome)
        return None

    async def _settle(self, item: InFlight, record: BaseModel, pending: Awaitable[Any]) -> None:
        try:
            outcome = await pending
        except Exception as exc:
            await self._retry(item, record, exc)
            return
        self._apply(item, outcome)

    async def _retry(self, item: InFlight, record: BaseModel, error: Exception) -> None:
        """Call ``route`` again after a back-off until it succeeds or attempts run out."""
        source = item.source
        attempts = 1
        while attempts < self._max_attempts:
            log.warning(
                "handler_error",
                topic=source.topic,
                partition=source.partition,
                offset=source.offset,
                attempt=attempts,
                error=repr(error),
            )
            self._stats.handler_retries += 1
            await asyncio.sleep(self._backoff.delay_s(attempts))
            if item.tracker.revoked:
                self._finish(item)
                return
            attempts += 1
            try:
                outcome = self._pipeline.route(record, source)
                if inspect.isawaitable(outcome):
                    outcome = await outcome
            except Exception as exc:
                error = exc
                continue
            self._apply(item, outcome)
            return
        message = str(error) or repr(error)
        self._dead_letter(
            item, Failure("handler", type(error).__name__, message, attempts=attempts)
        )

    def _apply(self, item: InFlight, outcome: object) -> None:
        if type(outcome) is Output:
            if self._guard.observe(False):
                return
            topic, value, key, headers, event_id = outcome
            added: Headers = ((SOURCE, source_header(item.source)),)
            if event_id is not None:
                added = ((EVENT_ID, event_id.encode()), *added)
            routed = self._stats.routed
            routed[topic] = routed.get(topic, 0) + 1
            self._emitter.submit(topic, key, value, headers + added if headers else added, item)
        elif isinstance(outcome, Reject):
            self._dead_letter(item, Failure("route", outcome.error_class, outcome.reason))
        elif isinstance(outcome, Drop):
            if self._guard.observe(False):
                return
            self._stats.dropped += 1
            self._finish(item)
        else:
            message = f"route returned {type(outcome).__name__}, not Output, Reject or Drop"
            self._dead_letter(item, Failure("route", "NoRoute", message))

    def too_large(self, topic: str, entry: Entry[InFlight]) -> None:
        """The broker refused a record for its size: an output becomes a dead letter."""
        key, value, headers, timestamp_ms, item = entry
        if topic != self._dlq_topic:
            self._stats.routed[topic] -= 1
            message = f"the output for {topic} is larger than the topic accepts"
            self._dead_letter(item, Failure("route", "RecordTooLarge", message))
            return
        # A dead letter too large for its topic: shed our own detail first; if that is not
        # enough, keep retrying loudly (never lose it) until the topic's limit is raised.
        slim = tuple((n, b"" if n == h.DLQ_DETAIL else v) for n, v in headers)
        delay_s = 0.0 if slim != headers else self._backoff.max_s
        asyncio.get_running_loop().call_later(
            delay_s, self._emitter.submit, topic, key, value, slim, item, timestamp_ms
        )

    def _dead_letter(self, item: InFlight, failure: Failure) -> None:
        source = item.source
        if self._guard.observe(True):
            self._halt(
                f"more than the allowed share of dead letters; last at "
                f"{source.topic}/{source.partition}/{source.offset}"
            )
            return
        self._stats.dead_lettered[(failure.stage, failure.error_class)] += 1
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
        self._emitter.submit(
            self._dlq_topic, source.key, item.value, headers, item, timestamp_ms=source.timestamp_ms
        )
