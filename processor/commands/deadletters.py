"""Dead letters as operators look at them: parsed headers, filters, counts (no I/O here)."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from processor import headers as h

OWN = frozenset(h.DLQ_OWN)
BUCKETS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
# Offsets and partitions are 64-bit at most; longer digit strings are not ours (and int() refuses
# strings over 4300 digits with a ValueError).
MAX_DIGITS = 19


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of the dead-letter topic, with its ``dlq.*`` headers read."""

    partition: int  # in the dead-letter topic
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    # Everything but the failure's own headers; a null value stays None, so replay keeps it.
    original_headers: tuple[tuple[str, bytes | None], ...]
    dlq: dict[str, str]

    @classmethod
    def from_record(cls, record: Any) -> DeadLetter:
        headers = tuple(record.headers or ())
        dlq = {n: header_bytes(v).decode("utf-8", "replace") for n, v in headers if n in OWN}
        original = tuple(
            (n, None if v is None else header_bytes(v)) for n, v in headers if n not in OWN
        )
        return cls(
            record.partition,
            record.offset,
            record.key,
            record.value,
            record.timestamp,
            original,
            dlq,
        )

    @property
    def stage(self) -> str:
        return self.dlq.get(h.DLQ_STAGE, "")

    @property
    def error_class(self) -> str:
        return self.dlq.get(h.DLQ_CLASS, "")

    @property
    def message(self) -> str:
        return self.dlq.get(h.DLQ_MESSAGE, "")

    @property
    def source_topic(self) -> str:
        return self.dlq.get(h.DLQ_SOURCE_TOPIC, "")

    @property
    def source_partition(self) -> int | None:
        return whole_number(self.dlq.get(h.DLQ_SOURCE_PARTITION, ""))

    @property
    def source_offset(self) -> int | None:
        return whole_number(self.dlq.get(h.DLQ_SOURCE_OFFSET, ""))

    @property
    def failed_at(self) -> datetime | None:
        """When it failed (UTC if the header names no zone); None if missing or unusable."""
        try:
            moment = datetime.fromisoformat(self.dlq.get(h.DLQ_FAILED_AT, ""))
            # Filters and buckets compare with aware times: a naive one would raise TypeError.
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            moment.astimezone(UTC)  # year 1 at +14:00 is before year 1 in UTC: buckets overflow
        except (ValueError, OverflowError):
            return None
        return moment

    @property
    def replay_count(self) -> int:
        for name, value in self.original_headers:
            if name == h.DLQ_REPLAY_COUNT and (count := whole_number(value or b"")) is not None:
                return count
        return 0

    def validation_errors(self) -> list[Any]:
        """The validation detail as a list, or [] where it is anything else."""
        try:
            errors = json.loads(self.dlq.get(h.DLQ_DETAIL, "") or "[]")
        # Hostile text: too deep (RecursionError), a number too long for int() (ValueError).
        except (ValueError, RecursionError):
            return []
        return errors if isinstance(errors, list) else []

    def summary(self) -> dict[str, Any]:
        failed = self.failed_at
        return {
            "partition": self.partition,
            "offset": self.offset,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "stage": self.stage,
            "error_class": self.error_class,
            "message": self.message,
            "failed_at": failed.isoformat() if failed else None,
            "replay_count": self.replay_count,
        }


def header_bytes(value: object) -> bytes:
    """A header value as bytes. Kafka allows null values (aiokafka gives None): read as empty."""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8", "replace")  # not from aiokafka; bytes(int) would be zeros


def whole_number(text: str | bytes) -> int | None:
    """A number written in ASCII digits, or None."""
    # isdigit() alone also accepts "²" (which int() refuses) and other scripts' digits such as
    # "٣" (which int() reads): neither is what the processor writes.
    ok = 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()
    return int(text) if ok else None


@dataclass(frozen=True, slots=True)
class Filter:
    """Which dead letters a command works on; every criterion given must hold."""

    stage: str | None = None
    error_class: str | None = None
    source_partition: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    grep: str | None = None

    def matches(self, letter: DeadLetter) -> bool:
        failed = letter.failed_at
        return (
            (self.stage is None or letter.stage == self.stage)
            and (self.error_class is None or letter.error_class == self.error_class)
            and (self.source_partition is None or letter.source_partition == self.source_partition)
            and (self.since is None or (failed is not None and failed >= self.since))
            and (self.until is None or (failed is not None and failed < self.until))
            and (self.grep is None or self.grep.lower() in letter.message.lower())
        )


def replay_refusal(letter: DeadLetter, max_replays: int, to: str | None) -> str | None:
    """Why ``letter`` must not be replayed, or None. The count limit ends replay loops."""
    if letter.replay_count >= max_replays:
        return f"replayed {letter.replay_count} times already (--max-replays {max_replays})"
    if not to and not letter.source_topic:
        return f"no {h.DLQ_SOURCE_TOPIC} header; name a topic with --to"
    return None


def parse_time(text: str) -> datetime:
    """An RFC 3339 time; a time without an offset is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def bucket_start(moment: datetime, size: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // size) * size


def count_by_class(letters: list[DeadLetter]) -> Counter[tuple[str, str]]:
    return Counter((letter.stage, letter.error_class) for letter in letters)


def count_by_bucket(letters: list[DeadLetter], size: timedelta) -> Counter[datetime]:
    return Counter(bucket_start(t, size) for letter in letters if (t := letter.failed_at))


def shown(data: bytes | None) -> str:
    """Pretty JSON where the bytes parse, escaped bytes otherwise; never raises."""
    if data is None:
        return "null"
    try:
        return json.dumps(json.loads(data), indent=2, ensure_ascii=False)
    # Any bytes can arrive: besides decode errors, json raises RecursionError on deep nesting and
    # ValueError on a number too long for int(). Whatever fails, the escaped bytes still show it.
    except Exception:
        return repr(data)


def embedded(data: bytes | None) -> tuple[Any, str | None]:
    """``data`` for a JSON document, and how it is given: the JSON value its bytes hold
    (``"json"``), else ``{"base64": ...}`` (``"base64"``); ``(None, None)`` for a null."""
    if data is None:
        return None, None
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_not_json)
        json.dumps(value)  # nested almost as deep as the parser allows: too deep to write back
    # Besides bytes that are not UTF-8 or not JSON: RecursionError on deep nesting, ValueError
    # on a number too long for int(), NaN and Infinity (Python reads them, JSON has none).
    except (ValueError, RecursionError):
        return in_base64(data), "base64"
    return value, "json"


def header_value(data: bytes | None) -> Any:
    """A header value for a JSON document: its text when UTF-8, else ``{"base64": ...}``."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return in_base64(data)


def in_base64(data: bytes) -> dict[str, str]:
    return {"base64": base64.b64encode(data).decode("ascii")}


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


# Characters a terminal may act on rather than show: C0 controls (ESC starts sequences that clear
# the screen or, OSC 52, write the clipboard), DEL, C1 controls (U+009B is an 8-bit CSI), the
# marks, embeddings, overrides and isolates that reorder text, the line and paragraph separators,
# and lone surrogates (which UTF-8 output cannot encode: print would raise).
UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


def printable(text: str) -> str:
    """``text`` safe for a terminal: each unsafe character as a visible ``\\xNN``/``\\uNNNN``.

    Newlines and tabs are escaped too: what a record holds must not pass for our own layout.
    """
    return UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
