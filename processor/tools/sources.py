"""Records to produce, read from JSON Lines, a JSON array, CSV, or raw lines."""

from __future__ import annotations

import csv
import io
import json
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

Format = Literal["auto", "jsonl", "json", "csv", "raw"]


@dataclass(frozen=True, slots=True)
class Line:
    """One record to send, or one line that could not be parsed (``error`` set)."""

    where: str  # file:line
    value: bytes | None = None
    key: bytes | None = None
    error: str = ""


def read_records(path: str, fmt: Format, model: type[BaseModel], key_field: str) -> Iterator[Line]:
    """Every record of ``path`` (``-`` is standard input) in the given format."""
    name = "<stdin>" if path == "-" else path
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    kind = fmt if fmt != "auto" else _guess(path)
    if kind == "raw":
        yield from _raw(name, text)
    elif kind == "json":
        yield from _array(name, text, key_field)
    elif kind == "csv":
        yield from _csv(name, text, model, key_field)
    else:
        yield from _json_lines(name, text, key_field)


def _guess(path: str) -> Format:
    suffix = Path(path).suffix.lower()
    return {".json": "json", ".csv": "csv", ".txt": "raw"}.get(suffix, "jsonl")  # type: ignore[return-value]


def _key(document: Any, key_field: str) -> bytes | None:
    if isinstance(document, dict) and document.get(key_field) is not None:
        return str(document[key_field]).encode()
    return None


def _json_lines(name: str, text: str, key_field: str) -> Iterator[Line]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Line(f"{name}:{number}", error=f"not JSON: {exc.msg} (column {exc.colno})")
            continue
        yield Line(f"{name}:{number}", line.strip().encode(), _key(document, key_field))


def _array(name: str, text: str, key_field: str) -> Iterator[Line]:
    try:
        documents = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Line(f"{name}:{exc.lineno}", error=f"not JSON: {exc.msg} (column {exc.colno})")
        return
    if not isinstance(documents, list):
        yield Line(f"{name}:1", error="a JSON file must hold an array of records")
        return
    for index, document in enumerate(documents):
        yield Line(f"{name}[{index}]", json.dumps(document).encode(), _key(document, key_field))


def _csv(name: str, text: str, model: type[BaseModel], key_field: str) -> Iterator[Line]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        yield Line(f"{name}:1", error="a CSV file needs a header row")
        return
    for row in reader:
        where = f"{name}:{reader.line_num}"
        if None in row:  # more cells than the header names
            yield Line(where, error=f"{len(row[None])} cell(s) more than the header has")
            continue
        document = {field: typed_cell(model, field, cell) for field, cell in row.items() if cell}
        yield Line(where, json.dumps(document).encode(), _key(document, key_field))


def _raw(name: str, text: str) -> Iterator[Line]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line:
            yield Line(f"{name}:{number}", line.encode("utf-8", "surrogateescape"))


def typed_cell(model: type[BaseModel], field: str, cell: str) -> Any:
    """A CSV cell as the model's field wants it: ``"2"`` for an int field becomes ``2``.

    A cell that does not convert stays a string, so validation reports it as a dead letter.
    """
    info = model.model_fields.get(field)
    base = _base_type(info.annotation) if info is not None else str
    try:
        if base is bool:
            return {"true": True, "false": False}.get(cell.strip().lower(), cell)
        if base is int:
            return int(cell)
        if base is float:
            return float(cell)
    except ValueError:
        return cell
    return cell


def _base_type(annotation: Any) -> Any:
    """int for ``Annotated[int, ...]``, ``int | None`` and the like."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return str
            annotation = options[0]
        else:
            return annotation
