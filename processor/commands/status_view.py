"""What ``processor status`` shows of a consumer group: lag arithmetic and rendering (no I/O)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from processor.commands.deadletters import printable
from processor.commands.groups import Group, Member
from processor.commands.tables import cut, table, terminal_width
from processor.config import IsolationLevel

# What a partition's end offset is under each isolation level: a read_committed consumer stops
# at the last stable offset (below it every transaction is settled), others at the high watermark.
END_MEANING: dict[str, str] = {
    "read_committed": "last stable offset",
    "read_uncommitted": "high watermark",
}
UNKNOWN = "unknown"
MEMBERS_HEADER = ["MEMBER ID", "CLIENT ID", "HOST", "INSTANCE ID", "PARTITIONS"]
PARTITIONS_HEADER = ["PARTITION", "COMMITTED", "END", "LAG", "COMMITTED AGO", "CLIENT ID"]
# Cut first: member ids are long (client id, then a UUID), the partition lists can be too.
MEMBERS_CUT_FIRST = (0, 4)
PARTITIONS_CUT_FIRST = (5,)


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed here
    committed_at: datetime | None  # from the commit's metadata; None when it carries no time
    end: int | None  # None: the topic is gone

    @property
    def lag(self) -> int | None:
        """Records past the group's commit: unknown without a commit or an end."""
        return lag(self.committed, self.end)


def lag(committed: int | None, end: int | None) -> int | None:
    """``end - committed``, never negative: a commit past the end (a topic deleted and made
    again, or a read_committed end held back by an open transaction) is no lag."""
    if committed is None or end is None:
        return None
    return max(0, end - committed)


@dataclass(frozen=True, slots=True)
class GroupStatus:
    group: Group
    partitions: tuple[PartitionStatus, ...]  # sorted by topic, partition
    isolation: IsolationLevel
    taken_at: datetime

    @property
    def total_lag(self) -> int:
        """The sum of the lags that are known."""
        return sum(p.lag for p in self.partitions if p.lag is not None)

    @property
    def unknown_lag(self) -> int:
        """Partitions whose lag is unknown (no commit, or no end)."""
        return sum(p.lag is None for p in self.partitions)

    @property
    def last_commit_at(self) -> datetime | None:
        return max((p.committed_at for p in self.partitions if p.committed_at), default=None)

    def age_s(self, moment: datetime | None) -> float | None:
        """Seconds from ``moment`` to when the status was taken (0 if the clocks disagree)."""
        return None if moment is None else max(0.0, (self.taken_at - moment).total_seconds())

    def owner(self, topic: str, partition: int) -> Member | None:
        return next((m for m in self.group.members if (topic, partition) in m.partitions), None)


def as_json(status: GroupStatus) -> str:
    """The status as one JSON document (one line)."""
    last = status.last_commit_at
    document: dict[str, Any] = {
        "group": status.group.group_id,
        "state": status.group.state,
        "taken_at": _iso(status.taken_at),
        "isolation_level": status.isolation,
        "end_offsets": END_MEANING[status.isolation],
        "total_lag": status.total_lag,
        "partitions_with_unknown_lag": status.unknown_lag,
        "last_commit_at": _iso(last),
        "last_commit_age_s": _rounded(status.age_s(last)),
        "members": [
            {
                "member_id": m.member_id,
                "client_id": m.client_id,
                "host": m.host,
                "group_instance_id": m.instance_id,
                "partitions": [{"topic": t, "partition": p} for t, p in m.partitions],
            }
            for m in status.group.members
        ],
        "partitions": [_partition_json(status, p) for p in status.partitions],
    }
    return json.dumps(document)


def _partition_json(status: GroupStatus, p: PartitionStatus) -> dict[str, Any]:
    owner = status.owner(p.topic, p.partition)
    return {
        "topic": p.topic,
        "partition": p.partition,
        "committed": p.committed,
        "end": p.end,
        "lag": p.lag,
        "committed_at": _iso(p.committed_at),
        "commit_age_s": _rounded(status.age_s(p.committed_at)),
        "member_id": owner.member_id if owner else None,
    }


def as_text(status: GroupStatus, width: int | None = None) -> str:
    """The status for a terminal: a summary, the members, the partitions; ``width`` wide."""
    width = terminal_width() if width is None else width
    last = status.last_commit_at
    unknown = f" (+{status.unknown_lag} partition(s) unknown)" if status.unknown_lag else ""
    summary = [
        f"group {status.group.group_id}: {status.group.state}, "
        f"{len(status.group.members)} member(s), total lag {status.total_lag}{unknown}",
        f"last commit: {_ago(status.age_s(last))}"
        + (f" ({_iso(last)})" if last else " (no commit carries its time)"),
        f"end offsets: {END_MEANING[status.isolation]} ({status.isolation})",
    ]
    members = (
        table(
            [_member_row(m) for m in status.group.members], MEMBERS_HEADER, width, MEMBERS_CUT_FIRST
        )
        if status.group.members
        else "no members"
    )
    partitions = table(
        [_partition_row(status, p) for p in status.partitions],
        PARTITIONS_HEADER,
        width,
        PARTITIONS_CUT_FIRST,
    )
    lines = [cut(printable(line), width) for line in summary]
    return "\n".join(lines) + f"\n\n{members}\n\n{partitions}"


def _member_row(m: Member) -> list[str]:
    return [m.member_id, m.client_id, m.host, m.instance_id or "-", _partition_list(m.partitions)]


def _partition_list(partitions: Sequence[tuple[str, int]]) -> str:
    """``topic/0,1,2`` per topic, topics apart by a space."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in partitions:
        by_topic.setdefault(topic, []).append(partition)
    return " ".join(f"{t}/{','.join(map(str, ps))}" for t, ps in by_topic.items()) or "-"


def _partition_row(status: GroupStatus, p: PartitionStatus) -> list[str]:
    owner = status.owner(p.topic, p.partition)
    return [
        f"{p.topic}/{p.partition}",
        _or_dash(p.committed),
        _or_dash(p.end),
        _or_dash(p.lag),
        _ago(status.age_s(p.committed_at)) if p.committed is not None else "-",
        owner.client_id if owner else "-",
    ]


def _or_dash(number: int | None) -> str:
    return "-" if number is None else str(number)


def _ago(age_s: float | None) -> str:
    """``3.2 s ago``, ``4 min ago``, ``2 h ago``, ``3 d ago``; unknown without a time."""
    if age_s is None:
        return UNKNOWN
    if age_s < 60:
        return f"{age_s:.1f} s ago"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if age_s >= size:
            return f"{int(age_s // size)} {unit} ago"
    return UNKNOWN  # not reached


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)
