"""Records to produce, read from JSON Lines, a JSON array, CSV, or raw lines."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal, Union, cast, get_args, get_origin

from pydantic import BaseModel

UTF8_BOM = b"\xef\xbb\xbf"

Format = Literal["auto", "jsonl", "json", "csv", "raw"]
# What --format auto picks; anything else (and standard input) is JSON Lines.
FORMAT_BY_SUFFIX: dict[str, Format] = {".json": "json", ".csv": "csv", ".txt": "raw"}


@dataclass(frozen=True, slots=True)
class Line:
    """One record to send, or one line that could not be parsed (``error`` set)."""

    where: str  # file:line
    value: bytes | None = None
    key: bytes | None = None
    error: str = ""


def read_records(path: str, fmt: Format, model: type[BaseModel], key_field: str) -> Iterator[Line]:
    """Every record of ``path`` (``-`` is standard input) in the given format.

    Input is read as bytes: raw lines go out unchanged, and a line that is not UTF-8 is reported
    with its number instead of stopping the run.
    """
    name = "<stdin>" if path == "-" else path
    kind = fmt if fmt != "auto" else _guess(path)
    with _open(path) as stream:
        if kind == "raw":
            yield from _raw(name, stream)
        elif kind == "jsonl":
            yield from _json_lines(name, stream, key_field)
        else:
            yield from _whole_file(name, stream.read(), kind, model, key_field)


def _open(path: str) -> contextlib.AbstractContextManager[BinaryIO]:
    if path == "-":  # left open: it is not ours to close
        return contextlib.nullcontext(cast(BinaryIO, sys.stdin.buffer))
    return open(path, "rb")


def _guess(path: str) -> Format:
    return FORMAT_BY_SUFFIX.get(Path(path).suffix.lower(), "jsonl")


def _key(document: Any, key_field: str) -> bytes | None:
    if isinstance(document, dict) and document.get(key_field) is not None:
        return str(document[key_field]).encode()
    return None


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Numbered lines without their line ending (LF or CR LF), read as they come."""
    for number, line in enumerate(stream, start=1):
        yield number, line.removesuffix(b"\n").removesuffix(b"\r")


def _json_lines(name: str, stream: BinaryIO, key_field: str) -> Iterator[Line]:
    for number, line in _lines(stream):
        if number == 1:
            line = line.removeprefix(UTF8_BOM)
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            document = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield Line(where, error=f"not UTF-8: {exc.reason} (byte {exc.start + 1})")
            continue
        except json.JSONDecodeError as exc:
            yield Line(where, error=f"not JSON: {exc.msg} (column {exc.colno})")
            continue
        yield Line(where, line.strip(), _key(document, key_field))


def _whole_file(
    name: str, data: bytes, kind: Format, model: type[BaseModel], key_field: str
) -> Iterator[Line]:
    try:
        text = data.decode("utf-8-sig")  # spreadsheets often write a byte-order mark
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        yield Line(f"{name}:{line}", error=f"not UTF-8: {exc.reason}; file skipped")
        return
    if kind == "csv":
        yield from _csv(name, text, model, key_field)
    else:
        yield from _array(name, text, key_field)


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


def _raw(name: str, stream: BinaryIO) -> Iterator[Line]:
    for number, line in _lines(stream):
        if line:
            yield Line(f"{name}:{number}", line)


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
