"""Records to Arrow tables: raw columns always, typed or dead-letter columns by topic (pure).

Every file has the raw columns: ``topic``, ``partition``, ``offset``, ``timestamp``, ``key``,
``headers`` and ``value``. Headers are a list of ``{key, value}`` pairs in record order (Kafka
allows a key twice, which a map column cannot hold). A topic with a model adds one column per
field (:mod:`schema`); a record whose value does not fit goes to the invalid table instead, with
``error_class`` and ``error``. The dead-letter topic adds one column per ``dlq.*`` header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ValidationError

from processor import headers as h
from processor.archive.schema import DoesNotFit, TypedColumn, typed_columns

HEADER = pa.struct([("key", pa.string()), ("value", pa.binary())])
RAW_FIELDS = (
    pa.field("topic", pa.string(), nullable=False),
    pa.field("partition", pa.int32(), nullable=False),
    pa.field("offset", pa.int64(), nullable=False),
    pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
    pa.field("key", pa.binary()),
    pa.field("headers", pa.list_(HEADER)),
    pa.field("value", pa.binary()),
)
RAW_NAMES = frozenset(f.name for f in RAW_FIELDS)
ERROR_FIELDS = (pa.field("error_class", pa.string()), pa.field("error", pa.string()))
DLQ_OWN = frozenset(h.DLQ_OWN)
MAX_DIGITS = 19  # a partition or an offset; longer digit strings are not ours


def dlq_column(header: str) -> str:
    """``dlq.error.stage`` -> ``dlq_error_stage``."""
    return header.replace(".", "_")


# How each dlq.* header is read into its column; unlisted ones stay text.
DLQ_TYPES = {
    h.DLQ_SOURCE_PARTITION: pa.int32(),
    h.DLQ_SOURCE_OFFSET: pa.int64(),
    h.DLQ_SOURCE_TIMESTAMP: pa.timestamp("ms", tz="UTC"),
    h.DLQ_ATTEMPTS: pa.int32(),
    h.DLQ_FAILED_AT: pa.timestamp("ms", tz="UTC"),
}


@dataclass(frozen=True, slots=True)
class Shape:
    """What a topic's files hold beyond the raw columns: a model's fields, or dead letters."""

    model: type[BaseModel] | None = None
    dead_letters: bool = False
    typed: tuple[TypedColumn, ...] = field(default=(), compare=False)

    @classmethod
    def raw(cls) -> Shape:
        return cls()

    @classmethod
    def of_model(cls, model: type[BaseModel]) -> Shape:
        return cls(model=model, typed=tuple(typed_columns(model, RAW_NAMES)))

    @classmethod
    def of_dead_letters(cls) -> Shape:
        return cls(dead_letters=True)

    @property
    def schema(self) -> Any:
        extra = [pa.field(c.name, c.type) for c in self.typed]
        if self.dead_letters:
            extra = [pa.field(dlq_column(n), DLQ_TYPES.get(n, pa.string())) for n in h.DLQ_OWN]
        return pa.schema([*RAW_FIELDS, *extra])


INVALID_SCHEMA = pa.schema([*RAW_FIELDS, *ERROR_FIELDS])


@dataclass(frozen=True, slots=True)
class Tables:
    """One sealed file's records as tables: those that fit, and those that do not (or None)."""

    valid: Any  # pa.Table
    invalid: Any | None


def tables(shape: Shape, records: Sequence[Any]) -> Tables:
    if shape.model is not None:
        return _typed_tables(shape, records)
    columns = _raw_columns(records)
    if shape.dead_letters:
        columns.update(_dlq_columns(records))
    return Tables(pa.Table.from_pydict(columns, schema=shape.schema), None)


def _raw_columns(records: Sequence[Any]) -> dict[str, list[Any]]:
    return {
        "topic": [r.topic for r in records],
        "partition": [r.partition for r in records],
        "offset": [r.offset for r in records],
        "timestamp": [r.timestamp if r.timestamp >= 0 else None for r in records],
        "key": [r.key for r in records],
        "headers": [[(k, v) for k, v in r.headers or ()] for r in records],
        "value": [r.value for r in records],
    }


def _typed_tables(shape: Shape, records: Sequence[Any]) -> Tables:
    assert shape.model is not None
    fitting: list[Any] = []
    cells: dict[str, list[Any]] = {column.name: [] for column in shape.typed}
    misfits: list[Any] = []
    errors: list[tuple[str, str]] = []
    for record in records:
        try:
            row = _typed_row(shape.model, shape.typed, record.value)
        except (ValidationError, DoesNotFit, ValueError) as exc:
            misfits.append(record)
            errors.append(_error(exc))
            continue
        fitting.append(record)
        for name, cell in row.items():
            cells[name].append(cell)
    valid = pa.Table.from_pydict({**_raw_columns(fitting), **cells}, schema=shape.schema)
    if not misfits:
        return Tables(valid, None)
    invalid = _raw_columns(misfits)
    invalid["error_class"] = [error_class for error_class, _ in errors]
    invalid["error"] = [message for _, message in errors]
    return Tables(valid, pa.Table.from_pydict(invalid, schema=INVALID_SCHEMA))


def _typed_row(
    model: type[BaseModel], columns: Sequence[TypedColumn], value: bytes | None
) -> dict[str, Any]:
    if value is None:
        raise ValueError("the record has no value")
    instance = model.model_validate_json(value)
    return {column.name: column.convert(getattr(instance, column.field)) for column in columns}


def _error(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ValidationError):
        return "ValidationError", exc.json(include_url=False, include_input=False)
    return type(exc).__name__, str(exc)


def _dlq_columns(records: Sequence[Any]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {dlq_column(name): [] for name in h.DLQ_OWN}
    for record in records:
        found = {k: v for k, v in record.headers or () if k in DLQ_OWN}
        for name in h.DLQ_OWN:
            raw = found.get(name)
            text = None if raw is None else bytes(raw).decode("utf-8", "replace")
            columns[dlq_column(name)].append(_dlq_cell(name, text))
    return columns


def _dlq_cell(name: str, text: str | None) -> Any:
    """A header's text as its column's type; None where it is missing or unusable."""
    if text is None or name not in DLQ_TYPES:
        return text
    if name == h.DLQ_FAILED_AT:
        return _moment(text)
    if not (0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    limit = 2**31 if DLQ_TYPES[name] == pa.int32() else 2**63
    return number if number < limit else None


def _moment(text: str) -> datetime | None:
    """An RFC 3339 time in UTC (naive: read as UTC, as ``processor dlq`` does); None where it is
    not one, or is not a time every reader can hold (year 1 at +14:00 is before year 1 in UTC)."""
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
