"""Buggy user pipelines for the containment tests: what goes wrong is chosen per record by its id.

``FaultyPipeline`` fails according to the prefix of the record's ``id`` (see ``FAULTS``); the
rest route like the built-in transactions pipeline. ``KeylessPipeline`` writes some outputs
without a key, for a compacted output topic to refuse. Both load as ``tests.faulty:faulty`` and
``tests.faulty:keyless``. ``StubbornPipeline`` has an async route that ignores cancellation;
``tests.faulty:slow`` is the built-in pipeline, slowed down.
"""

from __future__ import annotations

import asyncio
import decimal
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from pydantic import field_validator

from processor.pipeline import Output, Source
from processor.pipelines.transactions import Transaction, TransactionsPipeline, ledger_entry

# id prefix -> the (dlq.error.stage, dlq.error.class) its dead letter must carry.
FAULTS: dict[str, tuple[str, str]] = {
    "type-": ("validate", "TypeError"),
    "key-": ("validate", "KeyError"),
    "dec-": ("validate", "InvalidOperation"),
    "float-": ("route", "InvalidOutput"),
    "list-": ("route", "InvalidOutput"),
    "int-": ("route", "InvalidOutput"),
    "none-": ("route", "InvalidOutcome"),
    "undeclared-": ("route", "NoRoute"),
    "hang-": ("handler", "Timeout"),
    "raise-": ("handler", "RuntimeError"),
}
# Records whose id has none of these prefixes are routed normally.
HEALTHY_PREFIX = "ok-"


def expected_failure(record_id: str) -> tuple[str, str] | None:
    """What the dead letter of ``record_id`` must say, or None when it must reach an output."""
    for prefix, failure in FAULTS.items():
        if record_id.startswith(prefix):
            return failure
    return None


class FaultyTransaction(Transaction):
    """The transaction model with a validator that raises what pydantic does not wrap."""

    @field_validator("id")
    @classmethod
    def _explode(cls, value: str) -> str:
        if value.startswith("type-"):
            raise TypeError("a validator compared a str with an int")
        if value.startswith("key-"):
            raise KeyError("missing lookup entry")
        if value.startswith("dec-"):
            return str(decimal.Decimal("sNaN") + 1)  # signals InvalidOperation
        return value


def _broken(output: Output, **wrong: Any) -> Any:
    """``output`` with fields of the wrong type, as a careless route builds them."""
    return output._replace(**wrong)


async def _never() -> Output:
    await asyncio.Event().wait()  # nobody sets it
    raise AssertionError("unreachable")


class FaultyPipeline(TransactionsPipeline):
    """Every mistake a user's route can make, chosen by the record's id prefix."""

    model = FaultyTransaction

    def route(self, record: Transaction, source: Source) -> Any:
        record_id = record.id
        good = super().route(record, source)
        if record_id.startswith("float-"):
            return _broken(good, value=float(len(ledger_entry(record))))
        if record_id.startswith("list-"):
            return _broken(good, headers=[("origin", b"list")])
        if record_id.startswith("int-"):
            return _broken(good, event_id=len(record_id))
        if record_id.startswith("none-"):
            return None
        if record_id.startswith("undeclared-"):
            return good._replace(topic=f"{source.topic}.nowhere")
        if record_id.startswith("hang-"):
            return _never()
        if record_id.startswith("raise-"):
            raise RuntimeError(f"route failed for {record_id}")
        return good


class KeylessPipeline(TransactionsPipeline):
    """One output topic (compacted in the test); ids starting ``nokey-`` are written keyless."""

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return (f"{input_topic}.compacted",)

    def route(self, record: Transaction, source: Source) -> Output:
        key = None if record.id.startswith("nokey-") else record.account.encode()
        return Output(
            topic=f"{source.topic}.compacted",
            key=key,
            value=ledger_entry(record),
            event_id=record.id,
        )


class StubbornPipeline(TransactionsPipeline):
    """Ids starting ``stubborn-`` get an async route that ignores cancellation for ``hold_s``
    (then returns its output, late); the rest route normally."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s

    def route(  # type: ignore[override]
        self, record: Transaction, source: Source
    ) -> Output | Awaitable[Output]:
        good = super().route(record, source)
        if record.id.startswith("stubborn-"):
            return self._ignore_cancellation(good)
        return good

    async def _ignore_cancellation(self, result: Output) -> Output:
        loop = asyncio.get_running_loop()
        until = loop.time() + self.hold_s
        while (left := until - loop.time()) > 0:
            try:
                await asyncio.sleep(left)
            except asyncio.CancelledError:
                continue  # a user's broad ``except`` swallows the cancellation
        return result


class SlowPipeline(TransactionsPipeline):
    """The built-in pipeline at about a thousand records a second, with a plain (not async)
    route: a shutdown finds its workers between records, never inside an awaited route."""

    def route(self, record: Transaction, source: Source) -> Output:
        time.sleep(0.001)
        return super().route(record, source)


faulty = FaultyPipeline()
keyless = KeylessPipeline()
slow = SlowPipeline()
