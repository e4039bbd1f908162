"""``processor status``'s arithmetic and rendering: lag, totals, commit age, widths, JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from processor.commands.groups import Group, Member, assigned, group_of
from processor.commands.status_view import GroupStatus, PartitionStatus, as_json, as_text, lag
from processor.commands.tables import text_width

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
offsets = st.integers(0, 2**40)
maybe_offsets = st.none() | offsets
texts = st.text(max_size=60)


def status(*partitions: PartitionStatus, members: tuple[Member, ...] = ()) -> GroupStatus:
    return GroupStatus(Group("g", "Stable", "consumer", members), partitions, "read_committed", NOW)


@given(maybe_offsets, maybe_offsets)
def test_lag_is_end_minus_committed_never_negative_and_unknown_without_either(
    committed: int | None, end: int | None
) -> None:
    found = lag(committed, end)
    if committed is None or end is None:
        assert found is None
    else:
        assert found == max(0, end - committed)


@given(st.lists(st.tuples(maybe_offsets, maybe_offsets), max_size=8))
def test_the_total_is_the_sum_of_the_known_lags_and_the_rest_are_counted(
    pairs: list[tuple[int | None, int | None]],
) -> None:
    rows = [PartitionStatus("t", i, c, None, e) for i, (c, e) in enumerate(pairs)]
    found = status(*rows)
    assert found.total_lag == sum(lag(c, e) or 0 for c, e in pairs)
    assert found.unknown_lag == sum(c is None or e is None for c, e in pairs)


def test_the_last_commit_is_the_newest_time_and_its_age_counts_from_the_snapshot() -> None:
    rows = [PartitionStatus("t", 0, 5, NOW - timedelta(seconds=30), 5),
            PartitionStatus("t", 1, 5, NOW - timedelta(seconds=2), 9),
            PartitionStatus("t", 2, 5, None, 5)]  # fmt: skip
    found = status(*rows)
    assert found.last_commit_at == NOW - timedelta(seconds=2)
    document = json.loads(as_json(found))
    assert document["last_commit_age_s"] == 2.0
    assert [r["commit_age_s"] for r in document["partitions"]] == [30.0, 2.0, None]
    assert [r["lag"] for r in document["partitions"]] == [0, 4, 0]
    assert "last commit: 2.0 s ago (2026-11-29T11:59:58.000Z)" in as_text(found, 100)


def test_without_a_time_in_any_commit_the_age_is_unknown() -> None:
    found = status(PartitionStatus("t", 0, 5, None, 5))
    assert json.loads(as_json(found))["last_commit_at"] is None
    assert "last commit: unknown (no commit carries its time)" in as_text(found, 100)


def test_a_group_without_members_says_so_instead_of_an_empty_table() -> None:
    assert "\n\nno members\n\n" in as_text(status(PartitionStatus("t", 0, 5, None, 5)), 80)


def test_the_partitions_name_their_owner_and_the_members_their_partitions() -> None:
    member = Member("c-1-uuid", "c-1", "10.0.0.1", "pod-1", (("t", 0), ("t", 1)))
    found = status(PartitionStatus("t", 0, 1, None, 2), PartitionStatus("t", 2, 1, None, 2),
                   members=(member,))  # fmt: skip
    document = json.loads(as_json(found))
    assert [r["member_id"] for r in document["partitions"]] == ["c-1-uuid", None]
    assert document["members"][0]["partitions"] == [
        {"topic": "t", "partition": 0},
        {"topic": "t", "partition": 1},
    ]
    text = as_text(found, 120)
    assert ["c-1-uuid", "c-1", "10.0.0.1", "pod-1", "t/0,1"] in [
        line.split() for line in text.split("\n")
    ]


assignments = st.lists(st.tuples(texts, st.integers(0, 999)), max_size=5).map(tuple)
members = st.builds(Member, texts, texts, texts, st.none() | texts, assignments)
partitions = st.builds(PartitionStatus, texts, st.integers(0, 999), maybe_offsets,
                       st.none() | st.just(NOW), maybe_offsets)  # fmt: skip


@given(st.lists(members, max_size=4), st.lists(partitions, max_size=6), st.integers(20, 200))
def test_the_text_fits_the_width_whatever_the_names(
    found_members: list[Member], rows: list[PartitionStatus], width: int
) -> None:
    text = as_text(status(*rows, members=tuple(found_members)), width)
    assert all(text_width(line) <= width for line in text.split("\n"))
    assert "\x1b" not in text


def test_a_describe_groups_response_of_any_version_is_read() -> None:
    v3_member = {"member_id": "m", "client_id": "c", "client_host": "/10.0.0.2",
                 "member_metadata": b"", "member_assignment": b""}  # fmt: skip
    described = {"error_code": 0, "group": "g", "state": "PreparingRebalance",
                 "protocol_type": "consumer", "protocol": "", "members": [v3_member]}  # fmt: skip
    response = {"groups": [described]}
    group = group_of(response)
    assert group.members == (Member("m", "c", "10.0.0.2", None, ()),)
    assert assigned(None) == ()
