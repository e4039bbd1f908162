"""File names carry the offsets: built and read back exactly, sorted in offset order."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from processor.archive import layout
from processor.archive.layout import FileName

topics = st.from_regex(r"[a-zA-Z0-9._-]{1,40}", fullmatch=True).filter(
    lambda t: t not in (".", "..")
)
offsets = st.integers(min_value=0, max_value=2**63 - 1)
names = st.builds(
    lambda topic, partition, a, b, day: FileName(topic, partition, min(a, b), max(a, b), day),
    topics,
    st.integers(min_value=0, max_value=2**31 - 1),
    offsets,
    offsets,
    st.dates(),
)


@given(names, st.booleans())
def test_a_path_reads_back_as_the_file_it_names(name: FileName, invalid: bool) -> None:
    assert layout.parse(name.path(invalid=invalid)) == name


@given(names, st.text(alphabet="0123456789abcdef", min_size=1, max_size=32))
def test_a_temporary_path_is_never_read_as_a_file(name: FileName, token: str) -> None:
    temporary = layout.temporary_of(name.path(), token)
    assert layout.parse(temporary) is None
    assert layout.is_temporary(temporary)
    assert layout.temporary_partition(temporary) == name.partition
    assert not temporary.endswith(layout.SUFFIX)
    assert temporary.rsplit("/", 1)[0] == name.path().rsplit("/", 1)[0]  # same folder: rename


@given(names, offsets, offsets)
def test_names_of_one_partition_sort_in_offset_order(name: FileName, a: int, b: int) -> None:
    first = FileName(name.topic, name.partition, a, a, name.day)
    second = FileName(name.topic, name.partition, b, b, name.day)
    assert (first.base_name < second.base_name) == (a < b)


def test_the_layout_is_hive_style_and_invalid_records_have_their_own_folder() -> None:
    name = FileName("tx.additions", 3, 100, 199, date(2026, 11, 22))
    assert name.path() == (
        "topic=tx.additions/date=2026-11-22/"
        "part-3-00000000000000000100-00000000000000000199.parquet"
    )
    assert name.path(invalid=True) == "_invalid/" + name.path()


def test_paths_that_are_not_archive_files_are_not_read_as_files() -> None:
    for path in [
        "x.parquet",
        "topic=t/date=2026-13-01/part-0-1-2.parquet",
        "topic=t/date=2026-01-01/part-0-1.parquet",
        "topic=t/day=2026-01-01/part-0-1-2.parquet",
    ]:
        assert layout.parse(path) is None


def test_days_are_utc_and_timestamps_out_of_range_are_filed_at_the_ends() -> None:
    assert layout.day_of(1_795_046_399_999) == date(2026, 11, 18)
    assert layout.day_of(1_795_046_400_000) == date(2026, 11, 19)
    assert layout.day_of(-1) == date(1970, 1, 1)
    assert layout.day_of(2**63 - 1) == date(9999, 12, 31)
