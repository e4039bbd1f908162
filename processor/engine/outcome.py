"""Checking what a pipeline's ``route`` returned before anything is written.

``route`` is a stranger's function: an ``Output`` with a ``str`` value, headers as a list or a
topic nobody declared would fail deep in the producer, far from its cause. Checked here, it
becomes the record's dead letter with a message that says what was wrong.
"""

from __future__ import annotations

from collections.abc import Collection

from processor.engine.deadletter import Cause
from processor.pipeline import Output


def output_problem(output: Output, declared: Collection[str]) -> Cause | None:
    """Why ``output`` cannot be written, as the record's failure; None when it can."""
    topic, value, key, headers, event_id = output
    if type(topic) is not str or topic not in declared:
        message = f"route chose topic {topic!r}, not one of output_topics {sorted(declared)}"
        return Cause("route", "NoRoute", message)
    problem = None
    if value is not None and type(value) is not bytes:
        problem = f"Output.value must be bytes or None, got {type(value).__name__}"
    elif key is not None and type(key) is not bytes:
        problem = f"Output.key must be bytes or None, got {type(key).__name__}"
    elif event_id is not None and type(event_id) is not str:
        problem = f"Output.event_id must be a str or None, got {type(event_id).__name__}"
    elif event_id is not None and not _encodes(event_id):
        problem = "Output.event_id cannot be encoded as UTF-8 (a lone surrogate?)"
    elif headers is not None and (type(headers) not in (tuple, list) or headers):  # type first
        problem = headers_problem(headers)
    return None if problem is None else Cause("route", "InvalidOutput", problem)


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
