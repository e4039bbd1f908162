"""SIGKILL at each step of writing a file, then a restart: every record in exactly one file.

A test hook (``PROCESSOR_ARCHIVE_TEST_PAUSE``) stops the archiver at the step asked for, on the
third file, and says so in a flag file: the kill lands exactly there.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from processor.archive import layout
from tests.archive.support import (
    PAUSE_VARIABLE,
    ArchiveProcess,
    archive_once,
    ends_of,
    every_offset,
    hidden_files,
    main_files,
    offsets_in,
)
from tests.kafka_support import (
    Sample,
    committed,
    create_topics,
    produce,
    settings_for,
    wait_until,
)

RECORDS = 6_000
FILE_RECORDS = "500"


@pytest.mark.parametrize("step", ["write", "rename", "commit"])
async def test_a_kill_while_a_file_is_written_leaves_no_partial_file_and_no_duplicate(
    bootstrap_servers: str, unique_name: str, tmp_path: Path, step: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings, partitions=2)
    samples = [
        Sample(f"r{i}", f"k{i % 7}".encode(), f"v{i}".encode() * 20, True) for i in range(RECORDS)
    ]
    await produce(bootstrap_servers, unique_name, samples)
    root, flag = tmp_path / "archive", tmp_path / "reached"
    env = {"PROCESSOR_ARCHIVE_FILE_MAX_RECORDS": FILE_RECORDS}
    crashing = ArchiveProcess(
        settings, root, unique_name, log=tmp_path / "a.log", **env,
        **{PAUSE_VARIABLE: f"{step}:3:{flag}"},
    )  # fmt: skip
    crashing.start()

    async def paused() -> bool:
        return flag.exists()

    assert await wait_until(paused, 60), (tmp_path / "a.log").read_text()[-2000:]
    assert await crashing.stop(signal.SIGKILL) == -signal.SIGKILL

    # What a reader sees right after the crash: whole files only, none of them twice.
    for path in main_files(root, unique_name):
        assert pq.read_table(path).num_rows > 0
    assert max(offsets_in(main_files(root, unique_name)).values()) == 1
    hidden = hidden_files(root)
    assert (len(hidden) == 1) == (step in ("write", "rename")), hidden
    assert all(layout.is_temporary(str(path)) for path in hidden)
    before = len(main_files(root, unique_name))
    assert before == (3 if step == "commit" else 2)

    done = archive_once(settings, root, unique_name, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert offsets_in(main_files(root, unique_name)) == await every_offset(
        bootstrap_servers, unique_name
    )
    assert hidden_files(root) == []
    group = f"archive.{unique_name}"
    ends = await ends_of(bootstrap_servers, unique_name)
    assert await committed(bootstrap_servers, group, unique_name) == ends
