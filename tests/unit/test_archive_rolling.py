"""When a file is full: records, bytes and age limits, and a later day closing the file."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from processor.archive.rolling import (
    OpenFile,
    RollPolicy,
    belongs_to_next_file,
    full,
    record_bytes,
)

DAY = date(2026, 11, 22)


class Record(NamedTuple):
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


def filled(count: int, size: int = 10) -> OpenFile:
    file = OpenFile(DAY, opened_at_s=100.0)
    for offset in range(count):
        record = Record(offset, None, b"x" * size)
        file.add(record, record_bytes(record))
    return file


def test_a_file_is_full_at_its_record_limit_and_not_before() -> None:
    policy = RollPolicy(max_records=3, max_bytes=10**9, max_age_s=60)
    assert full(policy, filled(2), now_s=100.0) is None
    assert full(policy, filled(3), now_s=100.0) == "records"


def test_a_file_is_full_at_its_byte_limit() -> None:
    policy = RollPolicy(max_records=10**6, max_bytes=100, max_age_s=60)
    assert full(policy, filled(9), now_s=100.0) is None
    assert full(policy, filled(10), now_s=100.0) == "bytes"


def test_a_file_is_full_once_it_is_as_old_as_its_age_limit() -> None:
    policy = RollPolicy(max_records=10**6, max_bytes=10**9, max_age_s=5)
    assert full(policy, filled(1), now_s=104.9) is None
    assert full(policy, filled(1), now_s=105.0) == "age"


def test_record_bytes_count_key_value_header_names_and_values() -> None:
    record = Record(0, b"key", b"value", (("a", b"12"), ("bc", None)))
    assert record_bytes(record) == 3 + 5 + 1 + 2 + 2


def test_only_a_later_day_closes_the_file() -> None:
    file = filled(1)
    assert belongs_to_next_file(file, date(2026, 11, 23))
    assert not belongs_to_next_file(file, DAY)
    assert not belongs_to_next_file(file, date(2026, 11, 21))  # a late record stays
    assert not belongs_to_next_file(OpenFile(DAY, 0.0), date(2026, 11, 23))


@given(st.integers(min_value=1, max_value=50), st.integers(min_value=1, max_value=500))
def test_rolling_by_records_cuts_a_stream_into_files_of_exactly_the_limit(
    limit: int, count: int
) -> None:
    policy = RollPolicy(max_records=limit, max_bytes=10**9, max_age_s=60)
    sizes, file = [], OpenFile(DAY, 0.0)
    for offset in range(count):
        record = Record(offset, None, b"v")
        file.add(record, record_bytes(record))
        if full(policy, file, 0.0):
            sizes.append(len(file.records))
            file = OpenFile(DAY, 0.0)
    assert set(sizes) <= {limit}
    assert sum(sizes) + len(file.records) == count
