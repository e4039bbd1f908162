"""Shared by the archive tests: ``processor archive`` as operators run it, its files read back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from processor.archive import layout
from processor.archive.testhook import VARIABLE as PAUSE_VARIABLE
from processor.config import Settings
from tests.kafka_support import end_offsets
from tests.processes import ROOT

__all__ = ["PAUSE_VARIABLE"]


def archive_command(settings: Settings, to: Path | str, *topics: str, once: bool) -> list[str]:
    return [
        sys.executable, "-m", "processor", "archive", *topics, "--to", str(to),
        "--bootstrap-servers", settings.bootstrap_servers,
        "--input-topic", settings.input_topic, "--http-port", "0",
        *(["--once"] if once else []),
    ]  # fmt: skip


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PROCESSOR_LOG_FORMAT": "json", **extra}


def archive_once(
    settings: Settings,
    to: Path,
    *topics: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 180,
) -> subprocess.CompletedProcess[str]:
    """``processor archive TOPIC... --to DIR --once``, to its end."""
    return subprocess.run(
        archive_command(settings, to, *topics, once=True),
        cwd=ROOT, env=environment(**(env or {})), capture_output=True, text=True,
        timeout=timeout_s, check=False,
    )  # fmt: skip


class ArchiveProcess:
    """``processor archive`` running in the background, logging to ``log``."""

    def __init__(self, settings: Settings, to: Path, *topics: str, log: Path, **env: str) -> None:
        self.command = archive_command(settings, to, *topics, once=False)
        self.log, self.env = log, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *flags: str) -> ArchiveProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*self.command, *flags], cwd=ROOT, env=environment(**self.env),
                stdout=out, stderr=out,
            )  # fmt: skip
        return self

    async def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        return await asyncio.to_thread(self.process.wait, timeout_s)


def main_files(root: Path, topic: str) -> list[Path]:
    return sorted((root / layout.topic_folder(topic)).rglob("*.parquet"))


def invalid_files(root: Path, topic: str) -> list[Path]:
    return sorted((root / layout.topic_folder(topic, invalid=True)).rglob("*.parquet"))


def hidden_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and path.name.startswith(".")]


def read_files(paths: list[Path]) -> Any:
    """Every row of ``paths``, one table (their schemas must agree)."""
    tables = [pq.read_table(path) for path in paths]
    return pa.concat_tables(tables) if tables else None


def offsets_in(paths: list[Path]) -> Counter[tuple[int, int]]:
    """How often each (partition, offset) appears in ``paths``."""
    found: Counter[tuple[int, int]] = Counter()
    for path in paths:
        table = pq.read_table(path, columns=["partition", "offset"])
        found.update(zip(table["partition"].to_pylist(), table["offset"].to_pylist(), strict=True))
    return found


async def every_offset(bootstrap: str, topic: str) -> Counter[tuple[int, int]]:
    """Each (partition, offset) the topic holds once (no transactions, no compaction)."""
    ends = await end_offsets(bootstrap, topic)
    return Counter((p, o) for p, end in ends.items() for o in range(end))


async def ends_of(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's end, for those that hold records (what a group that read all commits)."""
    return {p: end for p, end in (await end_offsets(bootstrap, topic)).items() if end}


def names_match_contents(paths: list[Path]) -> bool:
    """Each file's name says its partition and its first and last offset (invalid included)."""
    for path in paths:
        name = layout.parse(str(path))
        assert name is not None, path
        table = pq.read_table(path, columns=["partition", "offset"])
        if table.num_rows and (
            set(table["partition"].to_pylist()) != {name.partition}
            or min(table["offset"].to_pylist()) < name.first_offset
            or max(table["offset"].to_pylist()) > name.last_offset
        ):
            return False
    return True
