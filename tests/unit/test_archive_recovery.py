"""After a crash: reading resumes after the last file found, and leftovers are cleared."""

from __future__ import annotations

from datetime import date

from processor.archive.layout import FileName, temporary_of
from processor.archive.recovery import recover

DAY = date(2026, 11, 22)


def path(partition: int, first: int, last: int, *, invalid: bool = False) -> str:
    return FileName("t", partition, first, last, DAY).path(invalid=invalid)


def test_nothing_past_the_commit_means_going_on_from_the_commit() -> None:
    found = recover(0, 200, [path(0, 0, 99), path(0, 100, 199)], [path(0, 0, 99, invalid=True)])
    assert found.resume_at is None
    assert found.leftovers == []


def test_a_file_renamed_but_not_committed_is_not_written_again() -> None:
    found = recover(0, 100, [path(0, 0, 99), path(0, 100, 180)], [])
    assert found.resume_at == 181


def test_files_of_other_partitions_do_not_count() -> None:
    found = recover(1, 100, [path(0, 100, 500), path(2, 0, 900)], [path(0, 100, 500, invalid=True)])
    assert found == recover(1, 100, [], [])
    assert found.resume_at is None


def test_an_invalid_file_whose_main_file_never_landed_is_a_leftover() -> None:
    orphan = path(0, 100, 150, invalid=True)
    kept = path(0, 0, 99, invalid=True)
    found = recover(0, 100, [path(0, 0, 99)], [kept, orphan])
    assert found.resume_at is None
    assert found.leftovers == [orphan]


def test_an_invalid_file_with_its_main_file_is_kept() -> None:
    found = recover(0, 100, [path(0, 100, 150)], [path(0, 100, 150, invalid=True)])
    assert found.resume_at == 151
    assert found.leftovers == []


def test_temporary_files_of_the_partition_are_leftovers() -> None:
    mine = temporary_of(path(3, 10, 20), "abc")
    other = temporary_of(path(4, 10, 20), "abc")
    found = recover(3, None, [mine, other], [])
    assert found.leftovers == [mine]
    assert found.resume_at is None


def test_a_partition_never_committed_resumes_after_its_files() -> None:
    assert recover(0, None, [path(0, 0, 49)], []).resume_at == 50
