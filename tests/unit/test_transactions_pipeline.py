"""The built-in ledger pipeline: validation rules, routing and the ledger entry it writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from processor.engine.deadletter import Cause
from processor.engine.decode import decode
from processor.pipeline import Output, Source
from processor.pipelines.transactions import (
    MAX_QUANTITY,
    LedgerEntry,
    Transaction,
    TransactionsPipeline,
    pipeline,
)

INPUT_TOPIC = "ledger"
VALID: dict[str, Any] = {
    "id": "tx-1",
    "account": "acct-42",
    "op": "add",
    "amount": "12.50",
    "currency": "EUR",
    "quantity": 2,
    "ts": "2024-03-01T10:15:00+01:00",
}
ABSENT = object()


def document(**changes: object) -> bytes:
    fields = {**VALID, **changes}
    present = {name: value for name, value in fields.items() if value is not ABSENT}
    return json.dumps(present).encode()


def accepted(**changes: object) -> Transaction:
    result = decode(Transaction, document(**changes))
    assert isinstance(result, Transaction), result
    return result


def rejected_field(**changes: object) -> str:
    """The field the first validation error names, for a document the model must refuse."""
    result = decode(Transaction, document(**changes))
    assert isinstance(result, Cause), result
    assert result.stage == "validate"
    loc = json.loads(result.detail)[0]["loc"]
    return ".".join(str(part) for part in loc)


def source(topic: str = INPUT_TOPIC) -> Source:
    return Source(topic, 0, 17, b"ignored-key", (), 1_700_000_000_000)


def routed(**changes: object) -> Output:
    return pipeline.route(accepted(**changes), source())


def value_of(output: Output) -> bytes:
    assert isinstance(output.value, bytes)  # the built-in pipeline writes bytes
    return output.value


def entry(**changes: object) -> dict[str, Any]:
    value = json.loads(value_of(routed(**changes)))
    assert isinstance(value, dict)
    return value


# Routing.


def test_adds_are_routed_to_the_additions_topic() -> None:
    assert routed(op="add").topic == f"{INPUT_TOPIC}.additions"


def test_refunds_are_routed_to_the_refunds_topic() -> None:
    assert routed(op="refund").topic == f"{INPUT_TOPIC}.refunds"


def test_outputs_follow_the_topic_the_record_came_from() -> None:
    output = pipeline.route(accepted(), source("eu.payments"))
    assert output.topic == "eu.payments.additions"


def test_outputs_are_keyed_by_account() -> None:
    assert routed(account="acct-\u00e9").key == "acct-\u00e9".encode()


def test_the_event_id_is_the_transaction_id() -> None:
    assert routed(id="abc-123").event_id == "abc-123"


def test_output_topics_are_additions_and_refunds_of_the_input() -> None:
    assert tuple(pipeline.output_topics("orders")) == ("orders.additions", "orders.refunds")


def test_every_routed_topic_is_an_output_topic() -> None:
    topics = set(pipeline.output_topics(INPUT_TOPIC))
    assert {routed(op="add").topic, routed(op="refund").topic} <= topics


def test_the_module_pipeline_uses_the_transaction_model() -> None:
    assert isinstance(pipeline, TransactionsPipeline)
    assert pipeline.model is Transaction


# The ledger entry.


def test_the_entry_carries_the_normalised_fields() -> None:
    value = entry(amount=12.5)
    assert value["id"] == VALID["id"]
    assert value["account"] == VALID["account"]
    assert value["op"] == "add"
    assert value["amount"] == "12.50"
    assert value["currency"] == "EUR"
    assert value["quantity"] == 2
    assert datetime.fromisoformat(value["ts"]) == datetime(
        2024, 3, 1, 10, 15, tzinfo=timezone(timedelta(hours=1))
    )


def test_the_entry_has_exactly_the_ledger_fields() -> None:
    assert set(entry()) == {
        "id",
        "account",
        "op",
        "amount",
        "currency",
        "quantity",
        "ts",
        "sign",
        "total",
        "high_value",
    }


def test_an_add_has_sign_plus_one() -> None:
    assert entry(op="add")["sign"] == 1


def test_a_refund_has_sign_minus_one() -> None:
    assert entry(op="refund")["sign"] == -1


@pytest.mark.parametrize(
    ("amount", "quantity", "total"),
    [
        ("12.50", 2, "25.00"),
        ("0.01", 3, "0.03"),
        ("9.99", 1, "9.99"),
        (7, 5, "35.00"),
        (0.1, 3, "0.30"),
        ("1234567.89", 1000, "1234567890.00"),
    ],
)
def test_total_is_amount_times_quantity_with_two_decimals(
    amount: object, quantity: int, total: str
) -> None:
    assert entry(amount=amount, quantity=quantity)["total"] == total


def test_a_refund_total_is_not_negated() -> None:
    assert entry(op="refund", amount="3.00", quantity=2)["total"] == "6.00"


@pytest.mark.parametrize(
    ("amount", "high"),
    [("10.00", True), ("10", True), ("9.99", False), ("10.01", True), ("0.01", False)],
)
def test_high_value_means_a_unit_amount_of_at_least_ten(amount: str, high: bool) -> None:
    assert entry(amount=amount)["high_value"] is high


def test_high_value_looks_at_the_unit_amount_not_the_total() -> None:
    assert entry(amount="9.99", quantity=100)["high_value"] is False


def test_a_missing_ts_is_null_in_the_entry() -> None:
    assert entry(ts=ABSENT)["ts"] is None


@pytest.mark.parametrize(
    ("amount", "quantity"), [("1.00", MAX_QUANTITY), ("99999999999999999.99", MAX_QUANTITY)]
)
def test_every_record_the_model_accepts_routes(amount: str, quantity: int) -> None:
    assert entry(amount=amount, quantity=quantity)["total"]


def test_a_quantity_above_the_maximum_is_refused() -> None:
    assert rejected_field(quantity=MAX_QUANTITY + 1) == "quantity"


# What the model accepts and refuses.


@pytest.mark.parametrize("amount", ["12.50", 12.5, "12", 12, "0.01", 0.01, "1e2"])
def test_amount_is_accepted_as_a_string_or_a_number(amount: object) -> None:
    assert accepted(amount=amount).amount > 0


@pytest.mark.parametrize(
    "amount",
    [
        "1.234",
        1.005,
        "0",
        0,
        "0.00",
        "-1.00",
        -5,
        True,
        False,
        "NaN",
        "Infinity",
        "-Infinity",
        "abc",
        "",
        None,
        [1],
    ],
)
def test_amount_is_refused_unless_a_positive_finite_number_with_two_decimals(
    amount: object,
) -> None:
    assert rejected_field(amount=amount) == "amount"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_non_finite_json_amount_is_refused(literal: bytes) -> None:
    value = document(amount=1).replace(b'"amount": 1', b'"amount": ' + literal)
    result = decode(Transaction, value)
    assert isinstance(result, Cause)


@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY"])
def test_currency_is_three_upper_case_letters(currency: str) -> None:
    assert accepted(currency=currency).currency == currency


@pytest.mark.parametrize("currency", ["usd", "Usd", "US", "USDT", "U1D", "USD\n", " USD", "", 840])
def test_any_other_currency_is_refused(currency: object) -> None:
    assert rejected_field(currency=currency) == "currency"


@pytest.mark.parametrize("quantity", [1, 2, 1_000_000])
def test_quantity_is_a_positive_integer(quantity: int) -> None:
    assert accepted(quantity=quantity).quantity == quantity


@pytest.mark.parametrize("quantity", [0, -1, "2", 2.0, 1.5, True, None])
def test_quantity_is_refused_unless_an_integer_of_at_least_one(quantity: object) -> None:
    assert rejected_field(quantity=quantity) == "quantity"


@pytest.mark.parametrize("op", ["ADD", "remove", "", None])
def test_op_is_add_or_refund(op: object) -> None:
    assert rejected_field(op=op) == "op"


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2024-03-01T10:15:00Z", datetime(2024, 3, 1, 10, 15, tzinfo=UTC)),
        (
            "2024-03-01T10:15:00.250-05:00",
            datetime(2024, 3, 1, 10, 15, 0, 250_000, tzinfo=timezone(timedelta(hours=-5))),
        ),
    ],
)
def test_ts_is_an_rfc3339_time_with_an_offset(ts: str, expected: datetime) -> None:
    assert accepted(ts=ts).ts == expected


def test_ts_is_optional() -> None:
    assert accepted(ts=ABSENT).ts is None


@pytest.mark.parametrize("ts", ["2024-03-01T10:15:00", "2024-03-01", "yesterday", 1_700_000_000])
def test_ts_without_an_offset_or_not_a_time_is_refused(ts: object) -> None:
    assert rejected_field(ts=ts) == "ts"


@pytest.mark.parametrize("field", ["id", "account"])
def test_an_empty_id_or_account_is_refused(field: str) -> None:
    assert rejected_field(**{field: ""}) == field


@pytest.mark.parametrize("field", ["id", "account"])
def test_a_non_string_id_or_account_is_refused(field: str) -> None:
    assert rejected_field(**{field: 42}) == field


@pytest.mark.parametrize("field", ["id", "account", "op", "amount", "currency", "quantity"])
def test_required_fields_must_be_present(field: str) -> None:
    assert rejected_field(**{field: ABSENT}) == field


def test_extra_fields_are_ignored() -> None:
    tx = accepted(note="gift", nested={"a": [1, 2]})
    assert "note" not in tx.model_dump()
    assert "note" not in entry(note="gift")


@pytest.mark.parametrize(
    "changes",
    [{}, {"op": "refund"}, {"ts": ABSENT}, {"amount": 9.5, "quantity": 7}, {"amount": "10"}],
)
def test_the_output_is_exactly_a_ledger_entry_as_pydantic_would_write_it(
    changes: dict[str, Any],
) -> None:
    value = value_of(routed(**changes))
    assert LedgerEntry.model_validate_json(value).model_dump_json().encode() == value
