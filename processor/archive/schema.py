"""Typed columns from a pydantic model: one Arrow type per field, and how a value becomes a cell.

Decimals become ``decimal128(max_digits, decimal_places)`` (``decimal256`` past 38 digits;
``(38, 9)`` when the model sets neither), datetimes become UTC timestamps in microseconds (a
naive one is read as UTC), dates ``date32``, ``int`` ``int64``, ``float`` ``float64``, ``bool``
and ``str`` themselves, a ``Literal`` the type of its values. Anything else (nested models, lists,
unions) is kept as its JSON text. A value that cannot be stored exactly (an int past 64 bits, a
decimal with more digits than its column) does not fit: the record goes to ``_invalid``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from enum import Enum
from typing import Any

import pyarrow as pa
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import to_json

DEFAULT_DECIMAL = (38, 9)
MAX_DECIMAL128_DIGITS = 38
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Wide enough to quantize any decimal a column can hold without the context rounding it.
_WIDE = Context(prec=200)


class DoesNotFit(ValueError):
    """A validated value that its column cannot hold exactly."""


Convert = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class TypedColumn:
    name: str  # the column's name (the field's, unless it would shadow a raw column)
    field: str  # the model's attribute
    type: Any  # a pyarrow DataType
    convert: Convert  # validated attribute -> cell (raises DoesNotFit)


def typed_columns(model: type[BaseModel], reserved: frozenset[str]) -> list[TypedColumn]:
    """One column per field of ``model``; a field named like a raw column gets ``value_``."""
    columns = []
    for name, info in model.model_fields.items():
        arrow_type, convert = _arrow(info.annotation, info)
        column = f"value_{name}" if name in reserved else name
        columns.append(TypedColumn(column, name, arrow_type, convert))
    return columns


def _arrow(annotation: Any, info: FieldInfo) -> tuple[Any, Convert]:
    inner = _without_none(annotation)
    if inner is not annotation:  # Optional: None stays a null cell
        arrow_type, convert = _arrow(inner, info)
        return arrow_type, _nullable(convert)
    if typing.get_origin(annotation) is typing.Annotated:
        return _arrow(typing.get_args(annotation)[0], info)
    if typing.get_origin(annotation) is typing.Literal:
        return _literal(typing.get_args(annotation))
    simple = _simple(annotation, info)
    return simple if simple is not None else (pa.string(), _json_text)


def _simple(annotation: Any, info: FieldInfo) -> tuple[Any, Convert] | None:
    if annotation is bool:
        return pa.bool_(), _same
    if annotation is int:
        return pa.int64(), _int64
    if annotation is float:
        return pa.float64(), _same
    if annotation is str:
        return pa.string(), _same
    if annotation is Decimal:
        return _decimal(info)
    if annotation is datetime:
        return pa.timestamp("us", tz="UTC"), _utc
    if annotation is date:
        return pa.date32(), _same
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        values = tuple(member.value for member in annotation)
        arrow_type, convert = _literal(values)
        return arrow_type, lambda member: convert(member.value)
    return None


def _without_none(annotation: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(rest) == 1 and len(rest) < len(typing.get_args(annotation)):
            return rest[0]
    return annotation


def _literal(values: tuple[Any, ...]) -> tuple[Any, Convert]:
    if all(isinstance(v, bool) for v in values):
        return pa.bool_(), _same
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pa.int64(), _int64
    if all(isinstance(v, str) for v in values):
        return pa.string(), _same
    return pa.string(), _json_text


def _decimal(info: FieldInfo) -> tuple[Any, Convert]:
    digits = _constraint(info, "max_digits")
    places = _constraint(info, "decimal_places")
    precision = digits or DEFAULT_DECIMAL[0]
    scale = places if places is not None else min(DEFAULT_DECIMAL[1], precision)
    factory = pa.decimal128 if precision <= MAX_DECIMAL128_DIGITS else pa.decimal256
    return factory(precision, scale), _decimal_fitting(precision, scale)


def _constraint(info: FieldInfo, name: str) -> int | None:
    for item in info.metadata:
        value = getattr(item, name, None)
        if isinstance(value, int):
            return value
    return None


def _decimal_fitting(precision: int, scale: int) -> Convert:
    step = Decimal(1).scaleb(-scale)
    largest = Decimal(10) ** (precision - scale)

    def convert(value: Decimal) -> Decimal:
        if not value.is_finite():
            raise DoesNotFit(f"{value} is not a finite number")
        exact = value.quantize(step, context=_WIDE)
        if exact != value or abs(exact) >= largest:
            raise DoesNotFit(f"{value} does not fit decimal({precision}, {scale})")
        return exact

    return convert


def _same(value: Any) -> Any:
    return value


def _int64(value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise DoesNotFit(f"{value} does not fit a 64-bit integer")
    return value


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _json_text(value: Any) -> str:
    return to_json(value).decode()


def _nullable(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)
