"""The delivery audit: where did every input record end up, and was each guarantee kept?

Records are identified by their source coordinates (``topic/partition/offset``), which every
output carries in its ``source`` header and every dead letter in its ``dlq.source.*`` headers, so
even bytes that never parsed can be followed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from processor import headers as h
from processor.commands.visibility import Visibility
from processor.config import IsolationLevel

Coordinates = tuple[int, int]  # (input partition, input offset)


@dataclass(frozen=True, slots=True)
class CrashWindow:
    """What a crash may duplicate: per input partition, offsets from the committed one on."""

    committed: Mapping[int, int]
    max_in_flight: int

    def explains(self, partition: int, offset: int) -> bool:
        start = self.committed.get(partition, 0)
        return start <= offset < start + self.max_in_flight


@dataclass(slots=True)
class AuditReport:
    inputs: int = 0
    outputs: int = 0
    dead_letters: int = 0
    lost: list[Coordinates] = field(default_factory=list)
    pending: int = 0  # found nowhere but not committed yet: still to be processed
    in_both: list[Coordinates] = field(default_factory=list)
    duplicates: int = 0
    unexplained_duplicates: list[Coordinates] = field(default_factory=list)
    order_violations: list[str] = field(default_factory=list)
    incomplete_dead_letters: list[Coordinates] = field(default_factory=list)
    # Outputs and dead letters of aborted transactions, and of transactions still open.
    aborted: int = 0
    open: int = 0

    @property
    def clean(self) -> bool:
        """No loss, no record in two places, order kept, headers complete."""
        return not (
            self.lost or self.in_both or self.order_violations or self.incomplete_dead_letters
        )

    def summary(self) -> dict[str, Any]:
        counts = {
            "inputs": self.inputs,
            "outputs": self.outputs,
            "dead_letters": self.dead_letters,
            "lost": len(self.lost),
            "pending": self.pending,
            "in_both": len(self.in_both),
            "duplicates": self.duplicates,
            "unexplained_duplicates": len(self.unexplained_duplicates),
            "order_violations": len(self.order_violations),
            "incomplete_dead_letters": len(self.incomplete_dead_letters),
            "aborted": self.aborted,
        }
        if self.open:
            counts["open"] = self.open
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "open": self.open,  # always, for scripts
            "examples": {k: v[:10] for k, v in asdict(self).items() if isinstance(v, list)},
        }


def audit(
    input_topic: str,
    inputs: Iterable[Any],
    outputs: Iterable[Any],
    dead_letters: Iterable[Any],
    crash_windows: Iterable[CrashWindow] = (),
    committed: Mapping[int, int] | None = None,
) -> AuditReport:
    """Compare what went in with what came out (records in each topic's partition order).

    With the group's ``committed`` offsets, a record found nowhere counts as lost only below its
    partition's committed offset; above it, it is pending (not yet processed, nothing lost).
    """
    report = AuditReport()
    input_keys = {(r.partition, r.offset): r.key for r in inputs}
    report.inputs = len(input_keys)
    out_seen: Counter[Coordinates] = Counter()
    # Order is promised per input key, within the output partition its records land in.
    by_key: dict[tuple[str, int, bytes | None], list[Coordinates]] = defaultdict(list)
    for record in outputs:
        where = _output_source(record, input_topic)
        if where is None:
            continue
        out_seen[where] += 1
        by_key[(record.topic, record.partition, input_keys.get(where))].append(where)
    dead_seen = _dead_letters(report, dead_letters, input_topic)
    report.outputs, report.dead_letters = out_seen.total(), dead_seen.total()
    missing = sorted(input_keys.keys() - out_seen.keys() - dead_seen.keys())
    if committed is None:
        report.lost = missing
    else:
        report.lost = [(p, o) for p, o in missing if o < committed.get(p, 0)]
        report.pending = len(missing) - len(report.lost)
    report.in_both = sorted(out_seen.keys() & dead_seen.keys())
    _count_duplicates(report, out_seen + dead_seen, list(crash_windows))
    report.order_violations = _order_violations(by_key)
    return report


def audit_under_isolation(
    isolation: IsolationLevel,
    input_topic: str,
    inputs: Iterable[Any],
    outputs: Sequence[Visibility],
    dead_letters: Visibility,
    crash_windows: Iterable[CrashWindow] = (),
    committed: Mapping[int, int] | None = None,
) -> AuditReport:
    """:func:`audit` of the outputs and dead letters as a consumer reading with ``isolation`` gets
    them: read_committed leaves out aborted and open transactions, read_uncommitted counts them
    (duplicates included). Either way the report counts their records as aborted and open."""
    seen_outputs = [record for topic in outputs for record in topic.seen_under(isolation)]
    seen_dead = dead_letters.seen_under(isolation)
    report = audit(input_topic, inputs, seen_outputs, seen_dead, crash_windows, committed)
    report.aborted = sum(len(topic.aborted) for topic in [*outputs, dead_letters])
    report.open = sum(len(topic.open) for topic in [*outputs, dead_letters])
    return report


def _dead_letters(
    report: AuditReport, records: Iterable[Any], input_topic: str
) -> Counter[Coordinates]:
    seen: Counter[Coordinates] = Counter()
    for record in records:
        where = _dead_letter_source(record, input_topic)
        if where is None:
            report.incomplete_dead_letters.append((-1, record.offset))
            continue
        seen[where] += 1
        if not _has_every_dlq_header(record):
            report.incomplete_dead_letters.append(where)
    return seen


def _count_duplicates(
    report: AuditReport, seen: Counter[Coordinates], windows: list[CrashWindow]
) -> None:
    for where, count in sorted(seen.items()):
        if count > 1:
            report.duplicates += count - 1
            if not any(window.explains(*where) for window in windows):
                report.unexplained_duplicates.append(where)


def _order_violations(
    by_key: Mapping[tuple[str, int, bytes | None], list[Coordinates]],
) -> list[str]:
    """Per output partition and key, first deliveries must follow input order.

    A redelivery after a crash repeats records already seen; only each record's first
    appearance counts, so replays are duplicates, not order violations.
    """
    violations = []
    for (topic, partition, key), sources in by_key.items():
        if key is None:
            continue
        seen: set[Coordinates] = set()
        last: dict[int, int] = {}
        for input_partition, offset in sources:
            if (input_partition, offset) in seen:
                continue
            seen.add((input_partition, offset))
            if offset < last.get(input_partition, -1):
                violations.append(
                    f"{topic}/{partition} key={key!r}: offset {offset} after "
                    f"{last[input_partition]} of input partition {input_partition}"
                )
            last[input_partition] = max(offset, last.get(input_partition, -1))
    return violations


def _header(record: Any, name: str) -> bytes | None:
    for key, value in record.headers:
        if key == name:
            return bytes(value)
    return None


def _output_source(record: Any, input_topic: str) -> Coordinates | None:
    raw = _header(record, h.SOURCE)
    parts = raw.decode(errors="replace").rsplit("/", 2) if raw else []
    if len(parts) != 3 or parts[0] != input_topic or not (parts[1] + parts[2]).isdigit():
        return None
    return int(parts[1]), int(parts[2])


def _dead_letter_source(record: Any, input_topic: str) -> Coordinates | None:
    topic = _header(record, h.DLQ_SOURCE_TOPIC)
    partition = _header(record, h.DLQ_SOURCE_PARTITION)
    offset = _header(record, h.DLQ_SOURCE_OFFSET)
    if topic is None or partition is None or offset is None or topic.decode() != input_topic:
        return None
    return int(partition), int(offset)


def _has_every_dlq_header(record: Any) -> bool:
    names = [name for name, _ in record.headers]
    return all(names.count(name) == 1 for name in h.DLQ_HEADERS)
