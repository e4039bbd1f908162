"""The built-in pipeline: ledger transactions, routed to additions and refunds by ``op``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Context, Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr
from pydantic_core import to_json

from processor.pipeline import Output, Pipeline, Source

HIGH_VALUE_AMOUNT = Decimal("10.00")
CENTS = Decimal("0.01")
MAX_QUANTITY = 10**18
SMALL_QUANTITY = 10**8  # times a 20-digit amount still fits the default 28-digit context
# Wide enough for a 20-digit amount times the largest quantity, so totals are exact.
EXACT = Context(prec=64)

NonEmpty = Annotated[StrictStr, Field(min_length=1)]


class Transaction(BaseModel):
    """One ledger transaction as producers write it. Unknown fields are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: NonEmpty
    account: NonEmpty
    op: Literal["add", "refund"]
    # A string or a JSON number; booleans and non-finite values are refused.
    amount: Annotated[Decimal, Field(gt=0, decimal_places=2, allow_inf_nan=False, max_digits=20)]
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")]
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]
    ts: Annotated[AwareDatetime, Field(strict=True)] | None = None


class LedgerEntry(BaseModel):
    """What the outputs carry: the normalised transaction plus derived fields (the schema).

    Amounts are written as JSON strings with two decimals; the digits bound their columns in
    ``processor archive`` (a 20-digit amount times the largest quantity fits 38 digits)."""

    id: str
    account: str
    op: Literal["add", "refund"]
    amount: Annotated[Decimal, Field(max_digits=20, decimal_places=2)]
    currency: str
    quantity: int
    ts: datetime | None
    sign: Literal[1, -1]
    total: Annotated[Decimal, Field(max_digits=38, decimal_places=2)]
    high_value: bool


def ledger_entry(tx: Transaction) -> bytes:
    """The output value as JSON: the fields of :class:`LedgerEntry`, built without re-validating."""
    amount, quantity = tx.amount, tx.quantity
    # Formatting a Decimal with ".2f" is exact; the product needs more digits than the default
    # context's 28 only for huge quantities.
    total = amount * quantity if quantity < SMALL_QUANTITY else EXACT.multiply(amount, quantity)
    entry = {
        "id": tx.id,
        "account": tx.account,
        "op": tx.op,
        "amount": f"{amount:.2f}",
        "currency": tx.currency,
        "quantity": quantity,
        "ts": tx.ts,
        "sign": 1 if tx.op == "add" else -1,
        "total": f"{total:.2f}",
        "high_value": amount >= HIGH_VALUE_AMOUNT,
    }
    return to_json(entry)


class TransactionsPipeline(Pipeline[Transaction]):
    """Adds go to ``<input>.additions``, refunds to ``<input>.refunds``, keyed by account."""

    model = Transaction

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return (f"{input_topic}.additions", f"{input_topic}.refunds")

    def output_models(self, input_topic: str) -> Mapping[str, type[BaseModel]]:
        return dict.fromkeys(self.output_topics(input_topic), LedgerEntry)

    def route(self, record: Transaction, source: Source) -> Output:
        suffix = "additions" if record.op == "add" else "refunds"
        return Output(
            topic=f"{source.topic}.{suffix}",
            key=record.account.encode(),
            value=ledger_entry(record),
            event_id=record.id,
        )


pipeline = TransactionsPipeline()
