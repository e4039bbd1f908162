"""Where each file goes and what it is called: the names carry the offsets (pure).

``topic=<t>/date=<YYYY-MM-DD>/part-<partition>-<first offset>-<last offset>.parquet``, Hive-style,
so DuckDB, Spark and pyarrow datasets read the folders as columns. Offsets are zero-padded to 20
digits, so names sort in offset order. Records that do not fit their topic's model go to the same
path under ``_invalid/``, which dataset readers skip (a leading underscore). A file being written
has a name that starts with a dot and does not end in ``.parquet``: no reader ever sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

INVALID_FOLDER = "_invalid"
SUFFIX = ".parquet"
TEMPORARY_MARK = ".tmp-"
OFFSET_DIGITS = 20
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Kafka timestamps are any 64-bit number; days past what datetime holds are filed on the last.
LAST_DAY = date(9999, 12, 31)
DAY_MS = 86_400_000
_NAME = re.compile(r"part-(\d+)-(\d+)-(\d+)\.parquet")


@dataclass(frozen=True, slots=True, order=True)
class FileName:
    """One archive file: which records of which partition it holds, and the day it is filed."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    day: date

    @property
    def folder(self) -> str:
        return f"topic={self.topic}/date={self.day.isoformat()}"

    @property
    def base_name(self) -> str:
        first, last = self.first_offset, self.last_offset
        return f"part-{self.partition}-{first:0{OFFSET_DIGITS}d}-{last:0{OFFSET_DIGITS}d}{SUFFIX}"

    def path(self, *, invalid: bool = False) -> str:
        """The path under the archive's root, ``_invalid/...`` for the records that do not fit."""
        path = f"{self.folder}/{self.base_name}"
        return f"{INVALID_FOLDER}/{path}" if invalid else path


def temporary_of(path: str, token: str) -> str:
    """Where the file at ``path`` is written before it is renamed to ``path``."""
    folder, _, name = path.rpartition("/")
    return (
        f"{folder}/.{name}{TEMPORARY_MARK}{token}" if folder else f".{name}{TEMPORARY_MARK}{token}"
    )


def topic_folder(topic: str, *, invalid: bool = False) -> str:
    folder = f"topic={topic}"
    return f"{INVALID_FOLDER}/{folder}" if invalid else folder


def parse(path: str) -> FileName | None:
    """The file a path (relative to the root, or ending in one) names; None for anything else."""
    parts = path.rstrip("/").split("/")
    if len(parts) < 3:
        return None
    topic_part, date_part, name = parts[-3:]
    match = _NAME.fullmatch(name)
    if not (topic_part.startswith("topic=") and date_part.startswith("date=") and match):
        return None
    try:
        day = date.fromisoformat(date_part.removeprefix("date="))
    except ValueError:
        return None
    partition, first, last = (int(group) for group in match.groups())
    return FileName(topic_part.removeprefix("topic="), partition, first, last, day)


def is_temporary(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith(".part-") and TEMPORARY_MARK in name


def temporary_partition(path: str) -> int | None:
    """The partition a temporary file was being written for."""
    name = path.rsplit("/", 1)[-1]
    match = re.match(r"\.part-(\d+)-", name)
    return int(match.group(1)) if match and is_temporary(path) else None


def day_of(timestamp_ms: int) -> date:
    """The UTC day of a Kafka timestamp (a record without one, -1, is filed on 1970-01-01)."""
    days = max(timestamp_ms, 0) // DAY_MS
    try:
        return (EPOCH + timedelta(days=days)).date()
    except OverflowError:
        return LAST_DAY
