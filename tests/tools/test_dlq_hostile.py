"""The dlq commands' output for dead letters written to hurt: nothing raises, nothing reaches the
terminal that it would act on, and --json stays exact. In-process: no broker needed."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor import headers as h
from processor.commands.deadletters import DeadLetter, Filter, embedded, printable, shown
from processor.commands.dlq_render import counted, listed, refused_line, whole, would_send_line

DEEP = b"[" * 100_000 + b"]" * 100_000  # json.loads: RecursionError
NEAR_LIMIT = b"[" * 990 + b"]" * 990  # about json's nesting limit: parses or not, by the stack
LONG_NUMBER = b"9" * 5_000  # json.loads: ValueError, over int()'s 4300-digit limit
LONE_SURROGATE = b'"\\ud800"'  # parses to a str that UTF-8 output cannot encode
HOSTILE_BYTES = [DEEP, NEAR_LIMIT, LONG_NUMBER, LONE_SURROGATE, b"[" + LONG_NUMBER + b"]"]

CLEAR_SCREEN = "\x1b[2J"
CLIPBOARD = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # OSC 52: write the operator's clipboard
CSI_8BIT = "\x9b2J"
BIDI = "\u061c\u200e\u200f" + "".join(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
ARABIC_DATE = "\u0662\u0660\u0662\u0666-\u0661\u0661-\u0662\u0662"  # 2026-11-22
HOSTILE_TEXT = [CLEAR_SCREEN, CLIPBOARD, CSI_8BIT, BIDI, "\x7f\x85\t\r\n", "٣", "²", "9" * 5_000]


def is_forbidden(char: str) -> bool:
    """What must not reach a terminal raw (this file's own list, not the code's)."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or char in BIDI or 0xD800 <= code <= 0xDFFF


def forbidden_in(text: str) -> list[str]:
    """The forbidden characters of ``text``; newlines count as layout here."""
    return [char for char in text if char != "\n" and is_forbidden(char)]


@dataclass(frozen=True)
class Record:
    """What DeadLetter.from_record reads of an aiokafka ConsumerRecord."""

    key: bytes | None = None
    value: bytes | None = None
    headers: Sequence[tuple[str, bytes | None]] = ()
    partition: int = 0
    offset: int = 0
    timestamp: int = 0


def dead_letter(
    value: bytes | None = b"{}",
    key: bytes | None = None,
    originals: Sequence[tuple[str, bytes | None]] = (),
    dlq: Mapping[str, str | bytes | None] | None = None,
) -> DeadLetter:
    own = dlq if dlq is not None else {h.DLQ_STAGE: "validate", h.DLQ_CLASS: "ValidationError"}
    encoded = [(n, v.encode() if isinstance(v, str) else v) for n, v in own.items()]
    return DeadLetter.from_record(Record(key, value, [*originals, *encoded]))


# shown, validation_errors, the parsed headers: nothing raises


def test_values_that_break_the_json_parser_are_shown_as_escaped_bytes() -> None:
    for value in (DEEP, LONG_NUMBER, b"[" + LONG_NUMBER + b"]"):
        assert shown(value) == repr(value)


def test_show_survives_values_too_deep_or_too_long_for_json() -> None:
    for value in HOSTILE_BYTES:
        letter = dead_letter(value, key=value, originals=[("h", value)])
        assert whole(letter, as_json=False).startswith("dead letter 0/0\n")
        document = json.loads(whole(letter, as_json=True))
        value_as, encoding = embedded(value)
        assert (document["value"], document["value_encoding"]) == (value_as, encoding)


def test_validation_errors_of_hostile_detail_are_empty_and_show_still_works() -> None:
    for detail in (DEEP, LONG_NUMBER, b"[" + LONG_NUMBER + b"]", b"\xff", b"{}"):
        letter = dead_letter(dlq={h.DLQ_DETAIL: detail})
        assert letter.validation_errors() == []
        assert "validation errors" not in whole(letter, as_json=False)


def test_validation_errors_of_any_shape_are_shown_one_a_line() -> None:
    detail = '[1, null, {"loc": "x"}, {"loc": ["a", 0], "msg": "bad\\u001b[2J"}, [[[]]]]'
    letter = dead_letter(dlq={h.DLQ_DETAIL: detail})
    shapes = "\n  - 1\n  - None\n  - x: None\n  - a.0: bad\\x1b[2J\n  - [[[]]]"
    assert whole(letter, as_json=False).endswith(f"\nvalidation errors:{shapes}")


def test_validation_errors_nested_to_the_parsers_limit_still_show() -> None:
    # Where the limit falls depends on the stack in use: try depths up to it. Some parse in
    # validation_errors yet nest too deep for json.dumps once inside the document.
    limit = deepest_parseable()
    for depth in range(limit - 40, limit + 1):
        detail = "[" * depth + "]" * depth
        letter = dead_letter(dlq={h.DLQ_DETAIL: detail})
        assert json.loads(whole(letter, as_json=True))["dlq"][h.DLQ_DETAIL] == detail
        assert whole(letter, as_json=False).startswith("dead letter 0/0\n")


def deepest_parseable() -> int:
    """The deepest nesting json.loads reads from here, found by bisection."""
    low, high = 1, 100_000  # high fails, low parses
    while high - low > 1:
        middle = (low + high) // 2
        try:
            json.loads("[" * middle + "]" * middle)
        except RecursionError:
            high = middle
        else:
            low = middle
    return low


def test_null_header_values_are_kept_as_null_and_read_as_empty() -> None:
    nulls = {name: None for name in h.DLQ_HEADERS}
    letter = dead_letter(originals=[("trace", None), (h.DLQ_REPLAY_COUNT, None)], dlq=nulls)
    assert letter.original_headers == (("trace", None), (h.DLQ_REPLAY_COUNT, None))
    assert (letter.stage, letter.replay_count, letter.source_partition) == ("", 0, None)
    assert letter.summary()["failed_at"] is None
    assert "  trace: null" in whole(letter, as_json=False)


def test_numbers_are_read_from_ascii_digits_only() -> None:
    for text in ("٣", "²", "9" * 5_000, "-1", " 1", "1\n", ""):
        letter = dead_letter(
            originals=[(h.DLQ_REPLAY_COUNT, text.encode())],
            dlq={h.DLQ_SOURCE_PARTITION: text, h.DLQ_SOURCE_OFFSET: text},
        )
        read = (letter.source_partition, letter.source_offset, letter.replay_count)
        assert read == (None, None, 0)
        assert letter.summary()["source_partition"] is None
    good = dead_letter(originals=[(h.DLQ_REPLAY_COUNT, b"2")], dlq={h.DLQ_SOURCE_PARTITION: "7"})
    assert (good.replay_count, good.source_partition) == (2, 7)


def test_a_failure_time_without_a_zone_is_utc_and_one_out_of_range_is_none() -> None:
    naive = dead_letter(dlq={h.DLQ_FAILED_AT: "2026-11-22T10:30:00"})
    assert naive.failed_at == datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    assert Filter(since=datetime(2026, 1, 1, tzinfo=UTC)).matches(naive)
    for text in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-05:00", "\x00", ARABIC_DATE):
        assert dead_letter(dlq={h.DLQ_FAILED_AT: text}).failed_at is None
    assert '"count": 1' in counted([naive], "1m", as_json=True)


# printable and the human output: nothing a terminal would act on


def test_printable_escapes_controls_and_direction_marks_and_keeps_other_text() -> None:
    assert printable(CLEAR_SCREEN) == "\\x1b[2J"
    assert printable(CLIPBOARD) == "\\x1b]52;c;ZWNobyBwd25lZA==\\x07"
    assert printable(CSI_8BIT + "\x7f\t\n") == "\\x9b2J\\x7f\\x09\\x0a"
    assert printable("\u202eevil\u2066") == "\\u202eevil\\u2066"
    assert printable("\ud800") == "\\ud800"
    assert printable("café ✓ 日本 \\ plain") == "café ✓ 日本 \\ plain"
    assert forbidden_in(printable("".join(map(chr, range(0x30000))))) == []


def test_list_escapes_record_text_in_its_table() -> None:
    letter = dead_letter(
        dlq={h.DLQ_STAGE: BIDI, h.DLQ_CLASS: CSI_8BIT, h.DLQ_MESSAGE: CLIPBOARD + "\nline"}
    )
    text = listed([letter], as_json=False, width=300)
    assert forbidden_in(text) == []
    assert len(text.splitlines()) == 2  # the header and one row: the record's newline escaped
    assert "\\x1b]52;c;" in text


def test_show_escapes_every_field_but_keeps_the_pretty_printed_layout() -> None:
    letter = dead_letter(
        value=json.dumps({"a": CSI_8BIT + BIDI}, ensure_ascii=False).encode(),
        key=json.dumps(CLEAR_SCREEN + "\x85").encode(),
        originals=[(CLEAR_SCREEN + "\n", b'"\xe2\x80\xae"'), ("plain", CLIPBOARD.encode())],
        dlq={h.DLQ_MESSAGE: CLIPBOARD, h.DLQ_CLASS: "\u202eevil", h.DLQ_STAGE: "\r"},
    )
    text = whole(letter, as_json=False)
    assert forbidden_in(text) == []
    lines = text.splitlines()
    assert lines[1] == 'key: "\\u001b[2J\\x85"'  # json's escape for ESC, ours for the C1 NEL
    assert lines[3:6] == ["{", '  "a": "\\x9b2J' + printable(BIDI) + '"', "}"]
    assert '  \\x1b[2J\\x0a: "\\u202e"' in lines
    assert "  plain: b'\\x1b]52;c;ZWNobyBwd25lZA==\\x07'" in lines
    assert f"  {h.DLQ_MESSAGE}: \\x1b]52;c;ZWNobyBwd25lZA==\\x07" in lines
    assert f"  {h.DLQ_CLASS}: \\u202eevil" in lines


def test_stats_escape_stage_and_class_in_their_table() -> None:
    letter = dead_letter(dlq={h.DLQ_STAGE: CLEAR_SCREEN, h.DLQ_CLASS: "\n\u2067"})
    text = counted([letter, letter], "1h", as_json=False)
    assert forbidden_in(text) == []
    assert text.splitlines()[1].split() == ["\\x1b[2J", "\\x0a\\u2067", "2"]


def test_replay_lines_escape_the_topic_the_record_names() -> None:
    letter = dead_letter(dlq={h.DLQ_SOURCE_TOPIC: CLEAR_SCREEN + "tx"})
    assert would_send_line(letter, None) == "would send 0/0 to \\x1b[2Jtx (replay 1)"
    assert would_send_line(letter, "other") == "would send 0/0 to other (replay 1)"
    assert refused_line(letter, f"no {CSI_8BIT}") == "refused 0/0: no \\x9b2J"


# --json: exact, parseable, printable as UTF-8


def test_json_output_keeps_the_record_text_exactly() -> None:
    value = json.dumps({"a": CSI_8BIT + BIDI}, ensure_ascii=False).encode()
    letter = dead_letter(
        value,
        originals=[(CLEAR_SCREEN, value)],
        dlq={h.DLQ_MESSAGE: CLIPBOARD, h.DLQ_CLASS: BIDI, h.DLQ_STAGE: "\n"},
    )
    document = json.loads(whole(letter, as_json=True))
    assert (document["message"], document["error_class"], document["stage"]) == (
        CLIPBOARD,
        BIDI,
        "\n",
    )
    assert document["headers"] == [[CLEAR_SCREEN, value.decode()]]
    assert document["value"] == {"a": CSI_8BIT + BIDI}
    (row,) = map(json.loads, listed([letter], as_json=True).splitlines())
    assert (row["message"], row["error_class"]) == (CLIPBOARD, BIDI)
    stats = json.loads(counted([letter], "1h", as_json=True))
    assert stats["by_class"] == [{"stage": "\n", "error_class": BIDI, "count": 1}]


def test_json_output_of_a_lone_surrogate_can_be_printed() -> None:
    letter = dead_letter(LONE_SURROGATE, originals=[("h", LONE_SURROGATE)])
    for as_json in (True, False):
        whole(letter, as_json).encode("utf-8")  # print would raise UnicodeEncodeError
    assert json.loads(whole(letter, as_json=True))["value"] == "\ud800"


# Fuzz: any record at all

# Encodable text, like all a producer can send; header names may also hold lone surrogates.
unusual = st.sampled_from(list(BIDI + "\x1b\x07\x85\x9b\n\t"))
texts = st.text(st.one_of(st.characters(exclude_categories=["Cs"]), unusual))
values = st.one_of(
    st.none(),
    st.binary(max_size=64),
    st.sampled_from([*HOSTILE_BYTES, *(t.encode() for t in HOSTILE_TEXT)]),
    texts.map(lambda t: json.dumps({"s": t, "n": [1.5, None]}, ensure_ascii=False).encode()),
)
names = st.one_of(texts, st.text(), st.sampled_from(HOSTILE_TEXT)).filter(
    lambda n: n not in h.DLQ_HEADERS
)
own_values = st.one_of(values, texts.map(str.encode), st.sampled_from(HOSTILE_TEXT))


@st.composite
def letters(draw: st.DrawFn) -> DeadLetter:
    originals = draw(st.lists(st.tuples(names, values), max_size=4))
    own = draw(st.dictionaries(st.sampled_from(h.DLQ_HEADERS), own_values))
    return dead_letter(draw(values), draw(values), originals, own)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(letters(), min_size=1, max_size=3), st.sampled_from(["1m", "1h", "1d"]))
def test_any_dead_letter_renders_safely_as_text_and_exactly_as_json(
    batch: list[DeadLetter], bucket: str
) -> None:
    table_text = listed(batch, as_json=False)
    assert forbidden_in(table_text) == []
    assert len(table_text.splitlines()) == len(batch) + 1
    assert forbidden_in(counted(batch, bucket, as_json=False)) == []
    rows = [json.loads(line) for line in listed(batch, as_json=True).splitlines()]
    assert [(r["message"], r["stage"], r["error_class"]) for r in rows] == [
        (x.message, x.stage, x.error_class) for x in batch
    ]
    assert json.loads(counted(batch, bucket, as_json=True))["total"] == len(batch)
    for letter in batch:
        text = whole(letter, as_json=False)
        assert forbidden_in(text) == []
        for name, _ in letter.original_headers:
            assert f"\n  {printable(name)}: " in text
        document = json.loads(whole(letter, as_json=True))
        assert (document["message"], document["stage"], document["error_class"]) == (
            letter.message,
            letter.stage,
            letter.error_class,
        )
        assert document["dlq"] == letter.dlq
        assert forbidden_in(would_send_line(letter, None)) == []
        assert forbidden_in(refused_line(letter, letter.source_topic)) == []


@given(st.dictionaries(st.sampled_from(h.DLQ_HEADERS), texts))
def test_dead_letter_header_text_is_read_exactly(own: dict[str, str]) -> None:
    letter = dead_letter(dlq=own)
    assert letter.dlq == own
    assert letter.message == own.get(h.DLQ_MESSAGE, "")
