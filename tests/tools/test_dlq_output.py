"""What the dlq commands print, without a broker: JSON values, newest first, P/OFFSET, widths."""

from __future__ import annotations

import argparse
import base64
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor import headers as h
from processor.commands import dlq_render
from processor.commands.deadletters import DeadLetter, embedded
from processor.commands.dlq import place
from processor.commands.dlq_read import Newest, recency
from processor.commands.dlq_render import FollowLayout, json_line, listed, position, whole
from processor.commands.tables import text_width

WHEN = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)


def letter(partition: int = 0, offset: int = 0, failed: datetime | None = WHEN,
           key: bytes | None = b'"k"', value: bytes | None = b'{"a": 1}',
           message: str = "amount: too many places") -> DeadLetter:  # fmt: skip
    own = {h.DLQ_STAGE: "validate", h.DLQ_CLASS: "ValidationError", h.DLQ_MESSAGE: message,
           h.DLQ_SOURCE_PARTITION: "3", h.DLQ_SOURCE_OFFSET: "1234"}  # fmt: skip
    if failed is not None:
        own[h.DLQ_FAILED_AT] = failed.isoformat()
    headers = [("trace", b"\xff"), *((n, v.encode()) for n, v in own.items())]
    record = SimpleNamespace(partition=partition, offset=offset, key=key, value=value,
                             timestamp=0, headers=headers)  # fmt: skip
    return DeadLetter.from_record(record)


# --json: real values


def test_json_key_and_value_are_embedded_as_values_not_strings() -> None:
    document = json.loads(whole(letter(), as_json=True))
    assert (document["key"], document["key_encoding"]) == ("k", "json")
    assert (document["value"], document["value_encoding"]) == ({"a": 1}, "json")
    assert document["headers"][0] == ["trace", {"base64": "/w=="}]
    row = json.loads(json_line(letter()))
    assert (row["value"], row["source_offset"]) == ({"a": 1}, 1234)


def test_bytes_that_are_not_json_are_base64_with_a_marker() -> None:
    document = json.loads(whole(letter(key=None, value=b"\xff not json"), as_json=True))
    assert (document["key"], document["key_encoding"]) == (None, None)
    assert document["value"] == {"base64": base64.b64encode(b"\xff not json").decode()}
    assert document["value_encoding"] == "base64"


@pytest.mark.parametrize("value", [b"NaN", b"[Infinity]", b'"\xff"', '"é"'.encode("utf-16")])
def test_what_only_python_reads_as_json_or_is_not_utf8_is_base64(value: bytes) -> None:
    assert embedded(value)[1] == "base64"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


@given(st.one_of(st.binary(max_size=40), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
def test_embedded_bytes_read_back_as_what_was_sent(data: bytes) -> None:
    value, encoding = embedded(data)
    document = json.loads(json.dumps({"value": value}))["value"]
    if encoding == "json":
        assert document == json.loads(data)
    else:
        assert base64.b64decode(document["base64"]) == data


# newest first, --tail


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 60), st.booleans()), max_size=30,
                unique_by=lambda t: t[:2]),
       st.integers(0, 10))  # fmt: skip
def test_newest_keeps_the_newest_n_newest_first(
    places: list[tuple[int, int, bool]], tail: int
) -> None:
    letters = [
        letter(p, o, WHEN + timedelta(seconds=o) if timed else None) for p, o, timed in places
    ]
    kept = Newest(tail)
    for each in letters:
        kept.offer(each)
    expected = sorted(letters, key=recency, reverse=True)
    assert kept.newest_first() == (expected[:tail] if tail else expected)


def test_the_list_puts_the_newest_first_with_the_place_show_takes() -> None:
    older, newer = letter(0, 5, WHEN), letter(1, 2, WHEN + timedelta(minutes=1))
    kept = Newest(0)
    kept.offer(older)
    kept.offer(newer)
    _, first, second = listed(kept.newest_first(), as_json=False, width=80).splitlines()
    assert first.split()[:4] == ["1/2", "2026-11-22T10:31:00Z", "3/1234", "validate"]
    assert second.split()[0] == "0/5"
    assert place(position(newer)) == (1, 2)


# P/OFFSET


def test_show_takes_the_list_form_and_a_bare_offset() -> None:
    assert place("2/42") == (2, 42)
    assert place("42") == (None, 42)


@pytest.mark.parametrize("text", ["", "a/1", "1/", "/1", "-1", "1/2/3", "1.5", "²", "0/٣"])
def test_anything_else_is_a_usage_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected P/OFFSET"):
        place(text)


# widths


def test_the_list_fits_80_columns_cutting_the_message() -> None:
    text = listed([letter(message="x" * 300)], as_json=False, width=80)
    assert all(text_width(line) <= 80 for line in text.splitlines())
    assert text.splitlines()[1].endswith("…")


def test_a_follow_lays_out_columns_once_and_every_later_row_fits() -> None:
    layout = FollowLayout([], width=100)
    lines = [layout.header(), layout.line(letter(message="m" * 500)), layout.line(letter())]
    assert all(text_width(line.rstrip("\n")) <= 100 for line in lines)
    starts = [line.index("validate") for line in lines[1:]]
    assert starts[0] == starts[1] == lines[0].index("STAGE")


def test_a_value_too_deep_to_write_inside_the_document_falls_back_to_base64(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = dlq_render._dumped

    def deep(document: dict[str, Any]) -> str:
        if document["value_encoding"] == "json":  # as json.dumps at the nesting limit
            raise RecursionError
        return real(document)

    monkeypatch.setattr(dlq_render, "_dumped", deep)
    for text in (json_line(letter()), whole(letter(), as_json=True)):
        document = json.loads(text)
        assert document["value"] == {"base64": base64.b64encode(b'{"a": 1}').decode()}
        assert document["value_encoding"] == "base64"
