"""Checking what a pipeline's ``route`` returned before anything is written.

``route`` is a stranger's function: an ``Output`` with an int value, headers as a list or a
topic nobody declared would fail deep in the producer, far from its cause. Checked here, it
becomes the record's dead letter with a message that says what was wrong.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeAlias, cast

from pydantic import BaseModel

from processor.engine.deadletter import Cause
from processor.engine.decode import describe_error
from processor.pipeline import Headers, Output

# An Output as it is written: value and key are bytes (or None).
Written: TypeAlias = tuple[str, bytes | None, bytes | None, Headers, str | None]


def written(output: Output, declared: Collection[str]) -> Written | Cause:
    """``output`` as it is written (value and key as bytes), or why it cannot be written."""
    topic, value, key, headers, event_id = output
    if type(topic) is not str or topic not in declared:
        message = f"route chose topic {topic!r}, not one of output_topics {sorted(declared)}"
        return Cause("route", "NoRoute", message)
    problem = None
    if (value is not None and type(value) is not bytes) or (
        key is not None and type(key) is not bytes
    ):
        try:
            value, key = _encoded(value, "value"), _encoded(key, "key")
        except _Invalid as invalid:
            return Cause("route", "InvalidOutput", str(invalid))
        output = Output(topic, value, key, headers, event_id)
    if event_id is not None and type(event_id) is not str:
        problem = f"Output.event_id must be a str or None, got {type(event_id).__name__}"
    elif event_id is not None and not _encodes(event_id):
        problem = "Output.event_id cannot be encoded as UTF-8 (a lone surrogate?)"
    elif headers is not None and (type(headers) not in (tuple, list) or headers):  # type first
        problem = headers_problem(headers)
    if problem is not None:
        return Cause("route", "InvalidOutput", problem)
    return cast(Written, output)


class _Invalid(Exception):
    """What is wrong with a part of an ``Output``."""


def _encoded(part: object, name: str) -> bytes | None:
    """``Output.value`` or ``Output.key`` as bytes; raises _Invalid saying what is wrong."""
    if part is None or type(part) is bytes:
        return part
    if isinstance(part, str):
        if not _encodes(part):
            raise _Invalid(f"Output.{name} cannot be encoded as UTF-8 (a lone surrogate?)")
        return part.encode()
    if name == "value" and isinstance(part, BaseModel):
        try:
            return part.model_dump_json().encode()
        except Exception as exc:
            message = f"Output.value could not be serialized as JSON: {describe_error(exc)}"
            raise _Invalid(message) from None
    kinds = "bytes, str, a pydantic model or None" if name == "value" else "bytes, str or None"
    raise _Invalid(f"Output.{name} must be {kinds}, got {type(part).__name__}")


def headers_problem(headers: object) -> str | None:
    """What is wrong with ``Output.headers``: a tuple of (str, bytes or None) pairs."""
    if type(headers) is not tuple:
        return f"Output.headers must be a tuple of (str, bytes) pairs, got {type(headers).__name__}"
    for index, pair in enumerate(headers):
        if type(pair) is not tuple or len(pair) != 2:
            kind = type(pair).__name__  # not its repr: a stranger's __repr__ may raise
            return f"Output.headers[{index}] must be a (str, bytes) pair, got {kind}"
        name, data = pair
        if type(name) is not str:
            return f"Output.headers[{index}] name must be a str, got {type(name).__name__}"
        if not _encodes(name):
            return f"Output.headers[{index}] name cannot be encoded as UTF-8 (a lone surrogate?)"
        if data is not None and type(data) is not bytes:
            return f"Output.headers[{index}] value must be bytes or None, got {type(data).__name__}"
    return None


def _encodes(text: str) -> bool:
    # Lone surrogates (from surrogateescape or a bad JSON escape) are valid in a str only.
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
