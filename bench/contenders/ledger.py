"""The job every Python contender does, with the processor's own model so the rules are identical.

A record either becomes a ledger entry on ``<input>.additions`` / ``<input>.refunds`` keyed by
account, or goes to ``<input>.dlq`` with its original key and value.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from processor.pipelines.transactions import Transaction, ledger_entry


@dataclass(frozen=True, slots=True)
class Routed:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class LedgerTopics:
    additions: str
    refunds: str
    dlq: str

    @classmethod
    def for_input(cls, topic: str) -> LedgerTopics:
        return cls(f"{topic}.additions", f"{topic}.refunds", f"{topic}.dlq")


def route(topics: LedgerTopics, key: bytes | None, value: bytes | None) -> Routed:
    """Validate with :class:`Transaction` (invalid JSON and UTF-8 fail there too) and route."""
    if value is None:
        return Routed(topics.dlq, key, value, [("dlq.error.class", b"NullValue")])
    try:
        tx = Transaction.model_validate_json(value)
    except ValidationError as error:
        reason = error.errors()[0]["type"].encode()
        return Routed(topics.dlq, key, value, [("dlq.error.class", b"ValidationError"),
                                               ("dlq.error.type", reason)])  # fmt: skip
    topic = topics.additions if tx.op == "add" else topics.refunds
    return Routed(topic, tx.account.encode(), ledger_entry(tx), [("event-id", tx.id.encode())])
