"""What the dlq commands print: tables that fit the terminal, JSON with real values (no I/O)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from processor import headers as h
from processor.commands.deadletters import (
    BUCKETS,
    DeadLetter,
    count_by_bucket,
    count_by_class,
    embedded,
    header_value,
    in_base64,
    printable,
    shown,
)
from processor.commands.tables import layout, row_line, table, terminal_width

LIST_HEADER = ["P/OFFSET", "FAILED AT", "SOURCE", "STAGE", "CLASS", "MESSAGE"]
MESSAGE_COLUMN = 5  # cut first: the rest of the row is short
# A row as wide as most are: ``--follow`` lays its columns out before the rows arrive.
TYPICAL_ROW = ["0/100000", "2026-11-22T10:30:00Z", "0/1000000", "validate", "ValidationError",
               "m" * 60]  # fmt: skip


def position(letter: DeadLetter) -> str:
    """Where a dead letter is, as ``dlq show`` takes it."""
    return f"{letter.partition}/{letter.offset}"


def list_row(letter: DeadLetter) -> list[str]:
    failed = letter.failed_at
    source = f"{_or_dash(letter.source_partition)}/{_or_dash(letter.source_offset)}"
    when = failed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if failed else "-"
    return [position(letter), when, source, letter.stage, letter.error_class, letter.message]


def _or_dash(number: int | None) -> str:
    return "-" if number is None else str(number)


def listed(letters: Sequence[DeadLetter], as_json: bool, width: int | None = None) -> str:
    """``dlq list`` output: one JSON document a line, or a table; each line ends in a newline."""
    if as_json:
        return "".join(json_line(letter) for letter in letters)
    return table([list_row(x) for x in letters], LIST_HEADER, width, [MESSAGE_COLUMN]) + "\n"


class FollowLayout:
    """``dlq list --follow``'s columns, fixed once so that later rows line up with the first."""

    def __init__(self, letters: Sequence[DeadLetter], width: int | None = None) -> None:
        self.width = terminal_width() if width is None else width
        rows = [TYPICAL_ROW, *(list_row(letter) for letter in letters)]
        self.widths = layout(rows, LIST_HEADER, self.width, [MESSAGE_COLUMN])

    def header(self) -> str:
        return row_line(LIST_HEADER, self.widths, self.width) + "\n"

    def line(self, letter: DeadLetter) -> str:
        return row_line(list_row(letter), self.widths, self.width) + "\n"


def json_line(letter: DeadLetter) -> str:
    """One dead letter's summary with its key and value, as one line of JSON."""
    try:
        return _dumped(_with_data(letter, letter.summary())) + "\n"
    except (ValueError, RecursionError):  # a value nested to the limit, one level deeper here
        return _dumped(_with_data(letter, letter.summary(), as_bytes=True)) + "\n"


def _with_data(
    letter: DeadLetter, document: dict[str, Any], as_bytes: bool = False
) -> dict[str, Any]:
    """``document`` with the key and value as JSON values where they are JSON, else (or with
    ``as_bytes``) base64; ``key_encoding``/``value_encoding`` say which, so that a JSON value
    ``{"base64": ...}`` is never mistaken for bytes."""
    key, key_encoding = in_base64_form(letter.key) if as_bytes else embedded(letter.key)
    value, value_encoding = in_base64_form(letter.value) if as_bytes else embedded(letter.value)
    return {**document, "key": key, "key_encoding": key_encoding, "value": value,
            "value_encoding": value_encoding}  # fmt: skip


def in_base64_form(data: bytes | None) -> tuple[Any, str | None]:
    """``data`` as ``embedded`` gives bytes that are not JSON."""
    return (None, None) if data is None else (in_base64(data), "base64")


def _dumped(document: dict[str, Any]) -> str:
    # ASCII, JSON's own escapes: a record's lone surrogates cannot be printed as UTF-8, and its
    # C1 and bidi characters would reach the terminal raw. The text stays exactly the same.
    return json.dumps(document)


def whole(letter: DeadLetter, as_json: bool) -> str:
    """``dlq show`` output: one dead letter as a JSON document, or as text for a terminal."""
    return _whole_json(letter) if as_json else _whole_text(letter)


def _whole_json(letter: DeadLetter) -> str:
    document = {
        **_with_data(letter, letter.summary()),
        "headers": [[n, header_value(v)] for n, v in letter.original_headers],
        "dlq": letter.dlq,
        "validation_errors": letter.validation_errors(),
    }
    try:
        return _dumped(document)
    except (ValueError, RecursionError):
        # Errors, key or value nested almost as deep as the parser allows are deeper still
        # inside the document: the errors' raw text is kept under "dlq", the bytes in base64.
        plain = _with_data(letter, document, as_bytes=True)
        return _dumped({**plain, "validation_errors": []})


def _whole_text(letter: DeadLetter) -> str:
    lines = [
        f"dead letter {position(letter)}",
        f"key: {_layout(shown(letter.key))}",
        "value:",
        _layout(shown(letter.value)),
        "original headers:",
    ]
    lines += [
        f"  {printable(name)}: {_layout(shown(value))}" for name, value in letter.original_headers
    ]
    lines += ["dead-letter headers:"] + [
        f"  {printable(n)}: {printable(v)}" for n, v in letter.dlq.items() if n != h.DLQ_DETAIL
    ]
    errors = letter.validation_errors()
    if errors:
        lines.append("validation errors:")
        lines += [f"  - {_error_line(error)}" for error in errors]
    return "\n".join(lines)


def _layout(text: str) -> str:
    """``shown`` text made printable, keeping its newlines as lines."""
    # Its raw newlines are all the pretty-printer's layout: inside JSON strings and in escaped
    # bytes, a record's own newlines are already escapes.
    return "\n".join(printable(line) for line in text.split("\n"))


def _error_line(error: object) -> str:
    """One validation error as ``loc: msg``, made printable; the detail may be any JSON."""
    try:
        if not isinstance(error, dict):
            return printable(str(error))
        loc = error.get("loc", [])
        where = ".".join(map(str, loc)) if isinstance(loc, list) else str(loc)
        return printable(f"{where}: {error.get('msg')}")
    except RecursionError:  # str() of lists nested nearly as deep as the parser allows
        return "(too deeply nested to show)"


def counted(letters: list[DeadLetter], bucket: str, as_json: bool, width: int | None = None) -> str:
    """``dlq stats`` output: counts by stage and class, and by time, as JSON or two tables."""
    by_class = count_by_class(letters)
    by_time = sorted(count_by_bucket(letters, BUCKETS[bucket]).items())
    if as_json:
        return json.dumps(
            {
                "total": len(letters),
                "by_class": [
                    {"stage": s, "error_class": c, "count": n}
                    for (s, c), n in by_class.most_common()
                ],
                "by_time": [{"from": t.isoformat(), "count": n} for t, n in by_time],
            }
        )
    classes = table(
        [[s, c, str(n)] for (s, c), n in by_class.most_common()], ["STAGE", "CLASS", "COUNT"], width
    )
    times = table(
        [[t.isoformat(), str(n)] for t, n in by_time], [f"FROM ({bucket})", "COUNT"], width
    )
    return f"{classes}\n\n{times}"


def refused_line(letter: DeadLetter, reason: str) -> str:
    """Why a dead letter stays; the reason may one day quote the record, so made printable."""
    return printable(f"refused {position(letter)}: {reason}")


def would_send_line(letter: DeadLetter, to: str | None) -> str:
    """A dry run's line; the topic comes from the record itself unless ``to`` is given."""
    where, again = to or letter.source_topic, letter.replay_count + 1
    return printable(f"would send {position(letter)} to {where} (replay {again})")
