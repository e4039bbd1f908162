"""A full disk and a read-only folder, for real (a small tmpfs): nothing committed, a clear error,
/readyz says why, and the archive catches up by itself once the fault is gone.

Mounting needs CAP_SYS_ADMIN (root outside a container, or a privileged one); without it these
tests are skipped and say so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.archive.support import (
    ArchiveProcess,
    ends_of,
    every_offset,
    hidden_files,
    main_files,
    offsets_in,
)
from tests.kafka_support import Sample, committed, create_topics, produce, settings_for, wait_until
from tests.observability.http_client import free_port, get, wait_for_status

RECORDS = 3_000
SPARE_BYTES = 20_000  # left free beside the ballast: less than one file


@contextlib.contextmanager
def small_disk(where: Path) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
        capture_output=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Callable[[], None]:
    """Leave SPARE_BYTES free; returns what frees the space again."""
    ballast = disk / "ballast"
    stat = os.statvfs(disk)
    ballast.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - SPARE_BYTES))
    return lambda: ballast.unlink()


def read_only(disk: Path) -> Callable[[], None]:
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)

    def writable_again() -> None:
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)

    return writable_again


@pytest.mark.parametrize(
    ("fault", "message"),
    [(fill, "No space left on device"), (read_only, "Read-only file system")],
)
async def test_a_filesystem_fault_commits_nothing_then_the_archive_recovers(
    bootstrap_servers: str,
    unique_name: str,
    tmp_path: Path,
    fault: Callable[[Path], Callable[[], None]],
    message: str,
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, retry_backoff_max_s=1.0)
    await create_topics(settings, partitions=2)
    with small_disk(tmp_path / "disk") as disk:
        root = disk / "archive"
        root.mkdir()
        repair = fault(disk)
        samples = [Sample(f"r{i}", b"k%d" % i, os.urandom(300), True) for i in range(RECORDS)]
        await produce(bootstrap_servers, unique_name, samples)
        port, group = free_port(), f"archive.{unique_name}"
        archiver = ArchiveProcess(
            settings, root, unique_name, log=tmp_path / "a.log",
            PROCESSOR_RETRY_BACKOFF_MAX_S="1", PROCESSOR_ARCHIVE_FILE_MAX_RECORDS="500",
            PROCESSOR_ARCHIVE_FILE_MAX_AGE_S="2",
        ).start("--http-port", str(port))  # fmt: skip
        try:
            body = await wait_until_reason(port, message)
            assert message in body
            assert message in (tmp_path / "a.log").read_text()
            assert await committed(bootstrap_servers, group, unique_name) == {}
            assert main_files(root, unique_name) == []
            assert hidden_files(root) == []
            _, metrics = await get(port, "/metrics")
            assert "processor_archive_write_failures_total 0.0" not in metrics

            repair()
            ends = await ends_of(bootstrap_servers, unique_name)

            async def caught_up() -> bool:
                return await committed(bootstrap_servers, group, unique_name) == ends

            assert await wait_until(caught_up, 60), (tmp_path / "a.log").read_text()[-2000:]
            await wait_for_status(port, "/readyz", 200, timeout_s=30)
            every = await every_offset(bootstrap_servers, unique_name)
            assert offsets_in(main_files(root, unique_name)) == every
        finally:
            assert await archiver.stop(signal.SIGTERM) == 0


async def wait_until_reason(port: int, text: str, timeout_s: float = 60) -> str:
    """/readyz's body once it names ``text``."""
    found = ""

    async def names_it() -> bool:
        nonlocal found
        try:
            _, found = await get(port, "/readyz")
        except OSError:  # not listening yet
            return False
        return text in found

    await wait_until(names_it, timeout_s)
    return found
