"""The delivery audit finds loss, double placement, duplicates, order violations, bad headers."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from processor import headers as h
from processor.commands.audit_report import CrashWindow, audit, audit_under_isolation
from processor.commands.visibility import Visibility
from processor.engine.deadletter import Cause, dead_letter_headers, source_header
from processor.pipeline import Source

TOPIC = "tx"


def inp(partition: int, offset: int, key: bytes = b"k") -> Any:
    return SimpleNamespace(topic=TOPIC, partition=partition, offset=offset, key=key, headers=())


def out(source: Any, partition: int = 0) -> Any:
    coords = Source(TOPIC, source.partition, source.offset, source.key, (), 0)
    return SimpleNamespace(
        topic="tx.additions",
        partition=partition,
        key=source.key,
        offset=0,
        headers=((h.SOURCE, source_header(coords)),),
    )


def dead(source: Any) -> Any:
    coords = Source(TOPIC, source.partition, source.offset, source.key, (), 0)
    headers = dead_letter_headers(coords, Cause("decode", "NullValue", "null"), "group")
    return SimpleNamespace(topic="tx.dlq", partition=0, key=source.key, offset=0, headers=headers)


def test_a_clean_run_reports_nothing() -> None:
    inputs = [inp(0, o) for o in range(5)]
    report = audit(TOPIC, inputs, [out(r) for r in inputs[:3]], [dead(r) for r in inputs[3:]])
    assert report.clean
    assert report.summary()["lost"] == 0
    assert (report.outputs, report.dead_letters) == (3, 2)


def test_a_record_found_nowhere_is_lost() -> None:
    inputs = [inp(0, 0), inp(0, 1)]
    report = audit(TOPIC, inputs, [out(inputs[0])], [])
    assert report.lost == [(0, 1)]
    assert not report.clean


def test_a_record_in_an_output_and_the_dead_letter_topic_is_reported() -> None:
    record = inp(1, 7)
    report = audit(TOPIC, [record], [out(record)], [dead(record)])
    assert report.in_both == [(1, 7)]


def test_duplicates_inside_a_crash_window_are_explained() -> None:
    records = [inp(0, o) for o in range(10)]
    outputs = [out(r) for r in records] + [out(r) for r in records[5:8]]
    window = CrashWindow(committed={0: 5}, max_in_flight=3)
    report = audit(TOPIC, records, outputs, [], crash_windows=[window])
    assert report.duplicates == 3
    assert report.unexplained_duplicates == []
    assert report.clean


def test_duplicates_outside_every_crash_window_are_unexplained() -> None:
    records = [inp(0, o) for o in range(10)]
    outputs = [out(r) for r in records] + [out(records[1])]
    report = audit(TOPIC, records, outputs, [], crash_windows=[CrashWindow({0: 5}, 3)])
    assert report.unexplained_duplicates == [(0, 1)]


def test_a_key_whose_records_come_out_of_input_order_is_a_violation() -> None:
    first, second = inp(0, 1), inp(0, 2)
    report = audit(TOPIC, [first, second], [out(second), out(first)], [])
    assert len(report.order_violations) == 1
    assert not report.clean


def test_a_replay_after_a_crash_is_a_duplicate_not_an_order_violation() -> None:
    records = [inp(0, o) for o in range(3)]
    outputs = [out(r) for r in records] + [out(r) for r in records]
    report = audit(TOPIC, records, outputs, [])
    assert report.order_violations == []
    assert report.duplicates == 3


def test_order_is_judged_by_the_input_key_not_the_output_key() -> None:
    a, b = inp(0, 1, key=b"a"), inp(0, 2, key=b"b")
    second, first = out(b), out(a)
    first.key = second.key = b"same-output-key"
    report = audit(TOPIC, [a, b], [second, first], [])
    assert report.order_violations == []


def test_a_record_found_nowhere_above_the_committed_offset_is_pending_not_lost() -> None:
    records = [inp(0, o) for o in range(4)]
    report = audit(TOPIC, records, [out(records[0]), out(records[1])], [], committed={0: 2})
    assert report.lost == []
    assert report.pending == 2
    assert report.clean


def test_a_record_found_nowhere_below_the_committed_offset_is_lost() -> None:
    records = [inp(0, o) for o in range(4)]
    report = audit(TOPIC, records, [out(records[0])], [], committed={0: 2})
    assert report.lost == [(0, 1)]


def test_different_keys_may_interleave_freely() -> None:
    a, b = inp(0, 1, key=b"a"), inp(0, 2, key=b"b")
    report = audit(TOPIC, [a, b], [out(b), out(a)], [])
    assert report.order_violations == []


def test_a_dead_letter_missing_a_header_is_incomplete() -> None:
    record = inp(0, 0)
    letter = dead(record)
    letter.headers = tuple(x for x in letter.headers if x[0] != h.DLQ_FAILED_AT)
    report = audit(TOPIC, [record], [], [letter])
    assert report.incomplete_dead_letters == [(0, 0)]


def visibility(
    committed: list[Any], aborted: list[Any], still_open: Sequence[Any] = ()
) -> Visibility:
    everything = [*committed, *aborted, *still_open]
    return Visibility(everything, committed, aborted, list(still_open))


def test_read_committed_leaves_out_outputs_of_aborted_transactions_but_counts_them() -> None:
    records = [inp(0, o) for o in range(3)]
    outputs = visibility([out(r) for r in records], [out(r) for r in records[:2]])
    report = audit_under_isolation("read_committed", TOPIC, records, [outputs], visibility([], []))
    assert (report.outputs, report.duplicates, report.aborted) == (3, 0, 2)
    assert report.clean


def test_read_uncommitted_counts_outputs_of_aborted_transactions_as_duplicates() -> None:
    records = [inp(0, o) for o in range(3)]
    outputs = visibility([out(r) for r in records], [out(r) for r in records[:2]])
    report = audit_under_isolation(
        "read_uncommitted", TOPIC, records, [outputs], visibility([], [])
    )
    assert (report.outputs, report.duplicates, report.aborted) == (5, 2, 2)


def test_an_output_only_in_an_aborted_transaction_is_lost_under_read_committed() -> None:
    record = inp(0, 0)
    outputs = visibility([], [out(record)])
    report = audit_under_isolation("read_committed", TOPIC, [record], [outputs], visibility([], []))
    assert report.lost == [(0, 0)]
    assert report.aborted == 1


def test_aborted_and_open_dead_letters_are_counted_with_the_outputs() -> None:
    records = [inp(0, o) for o in range(3)]
    outputs = visibility([out(records[0])], [out(records[0])])
    dead_letters = visibility([dead(records[1])], [dead(records[1])], [dead(records[2])])
    report = audit_under_isolation("read_committed", TOPIC, records, [outputs], dead_letters)
    assert (report.aborted, report.open) == (2, 1)
    assert report.dead_letters == 1


def test_open_is_summarised_only_when_there_is_some_but_always_in_the_json() -> None:
    report = audit(TOPIC, [], [], [])
    assert report.summary()["aborted"] == 0
    assert "open" not in report.summary()
    assert report.as_dict()["open"] == 0
    report.open = 2
    assert report.summary()["open"] == 2
