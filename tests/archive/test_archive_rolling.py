"""Files roll by bytes, by age and at a new day (by records: the end-to-end test)."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from processor.archive import layout
from processor.config import Settings
from tests.archive.support import ArchiveProcess, archive_once, main_files, read_files
from tests.kafka_support import create_topics, settings_for, wait_until

VALUE_BYTES = 999  # with a one-byte key: 1,000 bytes a record


async def send(settings: Settings, values: list[tuple[bytes, int | None]]) -> None:
    """Send (value, timestamp in ms) records to partition 0 of the input topic, in order."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for value, timestamp_ms in values:
            await producer.send_and_wait(
                settings.input_topic, value, key=b"k", partition=0, timestamp_ms=timestamp_ms
            )
    finally:
        await producer.stop()


async def one_partition(bootstrap: str, name: str) -> Settings:
    settings = settings_for(bootstrap, name)
    await create_topics(settings, partitions=1)
    return settings


async def test_files_roll_once_they_hold_the_byte_limit(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = await one_partition(bootstrap_servers, unique_name)
    await send(settings, [(b"v" * VALUE_BYTES, None)] * 95)
    env = {"PROCESSOR_ARCHIVE_FILE_MAX_BYTES": "10000"}
    done = archive_once(settings, tmp_path, unique_name, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    sizes = [read_files([path]).num_rows for path in main_files(tmp_path, unique_name)]
    assert sizes == [10] * 9 + [5]


async def test_a_file_rolls_at_its_age_while_nothing_more_arrives(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = await one_partition(bootstrap_servers, unique_name)
    archiver = ArchiveProcess(
        settings, tmp_path / "a", unique_name, log=tmp_path / "a.log",
        PROCESSOR_ARCHIVE_FILE_MAX_AGE_S="1",
    ).start()  # fmt: skip

    async def files(count: int) -> bool:
        return len(main_files(tmp_path / "a", unique_name)) == count

    try:
        await send(settings, [(b"first", None)] * 3)
        assert await wait_until(lambda: files(1), 30), (tmp_path / "a.log").read_text()[-2000:]
        await send(settings, [(b"second", None)] * 2)
        assert await wait_until(lambda: files(2), 30)
        rows = [read_files([p]).num_rows for p in main_files(tmp_path / "a", unique_name)]
        assert rows == [3, 2]
        assert archiver.process is not None
        assert archiver.process.poll() is None  # still running: the age rolled them
    finally:
        assert await archiver.stop(signal.SIGTERM) == 0


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


async def test_a_record_of_a_later_day_starts_a_file_in_that_days_folder(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = await one_partition(bootstrap_servers, unique_name)
    await send(settings, [
        (b"a", ms("2026-11-21T23:59:58")), (b"b", ms("2026-11-21T23:59:59")),
        (b"c", ms("2026-11-22T00:00:01")), (b"late", ms("2026-11-21T23:59:59")),
        (b"d", ms("2026-11-22T08:00:00")),
    ])  # fmt: skip
    done = archive_once(settings, tmp_path, unique_name)
    assert done.returncode == 0, done.stderr[-2000:]
    files = main_files(tmp_path, unique_name)
    names = [layout.parse(str(path)) for path in files]
    assert [(n.day.isoformat(), n.first_offset, n.last_offset) for n in names if n] == [
        ("2026-11-21", 0, 1),
        ("2026-11-22", 2, 4),
    ]
    assert read_files(files[1:])["value"].to_pylist() == [b"c", b"late", b"d"]
