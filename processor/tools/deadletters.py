"""Dead letters as operators look at them: parsed headers, filters, counts (no I/O here)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from processor import headers as h

OWN = frozenset(h.DLQ_HEADERS)
BUCKETS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of the dead-letter topic, with its ``dlq.*`` headers read."""

    partition: int  # in the dead-letter topic
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    original_headers: tuple[tuple[str, bytes], ...]  # everything but the failure's own headers
    dlq: dict[str, str]

    @classmethod
    def from_record(cls, record: Any) -> DeadLetter:
        headers = tuple((name, bytes(value)) for name, value in record.headers)
        dlq = {n: v.decode("utf-8", "replace") for n, v in headers if n in OWN}
        original = tuple((n, v) for n, v in headers if n not in OWN)
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
        text = self.dlq.get(h.DLQ_SOURCE_PARTITION, "")
        return int(text) if text.isdigit() else None

    @property
    def source_offset(self) -> int | None:
        text = self.dlq.get(h.DLQ_SOURCE_OFFSET, "")
        return int(text) if text.isdigit() else None

    @property
    def failed_at(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.dlq.get(h.DLQ_FAILED_AT, ""))
        except ValueError:
            return None

    @property
    def replay_count(self) -> int:
        for name, value in self.original_headers:
            if name == h.DLQ_REPLAY_COUNT and value.isdigit():
                return int(value)
        return 0

    def validation_errors(self) -> list[Any]:
        try:
            errors = json.loads(self.dlq.get(h.DLQ_DETAIL, "") or "[]")
        except json.JSONDecodeError:
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
    """Pretty JSON where the bytes parse, escaped bytes otherwise."""
    if data is None:
        return "null"
    try:
        return json.dumps(json.loads(data), indent=2, ensure_ascii=False)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return repr(data)


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)
