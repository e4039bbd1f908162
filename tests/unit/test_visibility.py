"""Records only a read_uncommitted consumer sees are aborted below the last stable offset, open
from it on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hypothesis import given
from hypothesis import strategies as st

from processor.commands.visibility import classify

Fate = Literal["committed", "aborted", "undecided"]
FATES: list[Fate] = ["committed", "aborted", "undecided"]


@dataclass(frozen=True)
class Rec:
    partition: int
    offset: int
    fate: Fate = "committed"


@dataclass(frozen=True)
class Log:
    """A topic as the broker holds it, and what each isolation level reads of it."""

    records: list[Rec]
    stable_ends: dict[int, int]

    @property
    def committed_read(self) -> list[Rec]:
        return [
            r
            for r in self.records
            if r.fate == "committed" and r.offset < self.stable_ends[r.partition]
        ]


def coordinates(records: list[Rec]) -> list[tuple[int, int]]:
    return [(r.partition, r.offset) for r in records]


@st.composite
def logs(draw: st.DrawFn) -> Log:
    """Per partition: records at increasing offsets (gaps are transaction markers); the last
    stable offset is the first record of an undecided transaction, else the end of the log."""
    records: list[Rec] = []
    stable_ends: dict[int, int] = {}
    for partition in range(draw(st.integers(1, 3))):
        offset = 0
        fates = draw(st.lists(st.sampled_from(FATES), max_size=30))
        for fate in fates:
            offset += draw(st.integers(0, 2))
            records.append(Rec(partition, offset, fate))
            if fate == "undecided":
                stable_ends.setdefault(partition, offset)
            offset += 1
        stable_ends.setdefault(partition, offset + draw(st.integers(0, 1)))
    return Log(records, stable_ends)


@given(logs())
def test_every_record_is_committed_aborted_or_open_exactly_once(log: Log) -> None:
    split = classify(log.records, log.committed_read, log.stable_ends)
    found = coordinates(split.committed) + coordinates(split.aborted) + coordinates(split.open)
    assert sorted(found) == sorted(coordinates(log.records))


@given(logs())
def test_aborted_are_exactly_the_aborted_records_below_the_stable_end(log: Log) -> None:
    split = classify(log.records, log.committed_read, log.stable_ends)
    below = [r for r in log.records if r.offset < log.stable_ends[r.partition]]
    assert split.aborted == [r for r in below if r.fate == "aborted"]


@given(logs())
def test_open_are_the_records_from_the_stable_end_on(log: Log) -> None:
    split = classify(log.records, log.committed_read, log.stable_ends)
    assert split.open == [r for r in log.records if r.offset >= log.stable_ends[r.partition]]


def test_a_record_hidden_below_the_stable_end_is_aborted() -> None:
    records = [Rec(0, 0), Rec(0, 1, "aborted"), Rec(0, 3)]
    split = classify(records, [records[0], records[2]], {0: 5})
    assert coordinates(split.aborted) == [(0, 1)]
    assert split.open == []


def test_a_record_hidden_at_the_stable_end_is_open() -> None:
    records = [Rec(0, 0), Rec(0, 1, "undecided"), Rec(0, 2)]
    split = classify(records, [records[0]], {0: 1})
    assert coordinates(split.open) == [(0, 1), (0, 2)]
    assert split.aborted == []


def test_read_committed_sees_the_committed_read_and_read_uncommitted_everything() -> None:
    records = [Rec(0, 0), Rec(0, 1, "aborted")]
    split = classify(records, records[:1], {0: 3})
    assert split.seen_under("read_committed") == records[:1]
    assert split.seen_under("read_uncommitted") == records
