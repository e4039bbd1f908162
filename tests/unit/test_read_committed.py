"""Raw reads as a read_committed consumer sees them: aborted transactions are left out.

A model of a partition's log is built from random steps (plain records, transactional records
of a few producers, their commit and abort markers); the broker's list of aborted transactions
is derived from it as Kafka derives it (each aborted transaction by producer id and its first
offset). The reader must keep exactly the records of plain batches and of transactions that
were not aborted.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.engine.rawread import committed_batches, read_raw
from processor.engine.recordbatch import RawRecord, parse_batches
from tests.batches import encode_batch

TP = TopicPartition("payments", 0)
COMMIT, ABORT = 1, 0


def marker(offset: int, kind: int) -> RawRecord:
    # A control record's key: version 0, then the type; its value is not read.
    return RawRecord(offset, 0, (0).to_bytes(2, "big") + kind.to_bytes(2, "big"), b"", ())


@dataclass
class Log:
    data: bytearray
    next_offset: int = 0

    def append(self, count: int, producer: int = -1, transactional: bool = False) -> list[int]:
        offsets = list(range(self.next_offset, self.next_offset + count))
        records = [RawRecord(o, 0, b"k", f"v{o}".encode(), ()) for o in offsets]
        self.data += encode_batch(
            self.next_offset, records, producer_id=producer, transactional=transactional
        )
        self.next_offset += count
        return offsets

    def end_transaction(self, producer: int, kind: int) -> None:
        record = marker(self.next_offset, kind)
        self.data += encode_batch(
            self.next_offset, [record], producer_id=producer, transactional=True, control=True
        )
        self.next_offset += 1


steps = st.lists(
    st.one_of(
        st.tuples(st.just("plain"), st.integers(1, 3), st.just(0)),
        st.tuples(st.just("send"), st.integers(1, 3), st.integers(1, 3)),
        st.tuples(st.sampled_from(["commit", "abort"]), st.just(0), st.integers(1, 3)),
    ),
    max_size=30,
)


@settings(max_examples=500)
@given(steps=steps)
def test_a_raw_read_committed_keeps_exactly_the_records_of_committed_and_plain_batches(
    steps: list[tuple[str, int, int]],
) -> None:
    log = Log(bytearray())
    open_since: dict[int, int] = {}  # producer -> first offset of its open transaction
    pending: dict[int, list[int]] = {}  # producer -> offsets of its open transaction
    visible: list[int] = []
    aborted: list[tuple[int, int]] = []
    for kind, count, producer in steps:
        if kind == "plain":
            visible += log.append(count)
        elif kind == "send":
            open_since.setdefault(producer, log.next_offset)
            pending.setdefault(producer, []).extend(log.append(count, producer, True))
        elif producer in open_since:
            if kind == "abort":
                aborted.append((producer, open_since[producer]))
            else:
                visible += pending[producer]
            log.end_transaction(producer, ABORT if kind == "abort" else COMMIT)
            del open_since[producer], pending[producer]
    # Still-open transactions are past the last stable offset: a read_committed fetch stops
    # there, so the model only reads up to the first open transaction.
    stable = min(open_since.values(), default=log.next_offset)
    kept = [o for o in sorted(visible) if o < stable]
    cut = _prefix_before(bytes(log.data), stable)
    read = read_raw(TP, 0, cut, aborted)
    assert [record.offset for record in read.records] == kept
    assert read.failures == {}


def _prefix_before(data: bytes, offset: int) -> bytes:
    """The log's bytes up to the batch holding ``offset`` (what the broker returns below the
    last stable offset)."""
    end = 0
    for batch in parse_batches(data):
        if batch.base_offset >= offset:
            break
        end += 12 + int.from_bytes(data[end + 8 : end + 12], "big")
    return data[:end]


def test_without_the_aborted_list_every_record_is_read_as_before() -> None:
    log = Log(bytearray())
    log.append(2, producer=7, transactional=True)
    log.end_transaction(7, ABORT)
    read = read_raw(TP, 0, bytes(log.data))
    assert [record.offset for record in read.records] == [0, 1]


def test_a_read_past_aborted_batches_goes_on_after_them() -> None:
    log = Log(bytearray())
    log.append(3, producer=7, transactional=True)
    read = read_raw(TP, 0, bytes(log.data), [(7, 0)])
    assert read.records == []
    assert read.next_offset == 3


def test_control_and_unreadable_batches_are_kept_for_the_reader() -> None:
    log = Log(bytearray())
    log.append(1, producer=7, transactional=True)
    log.end_transaction(7, ABORT)
    batches = parse_batches(bytes(log.data))
    kept = committed_batches(batches, [(7, 0)])
    assert [batch.is_control for batch in kept] == [True]  # type: ignore[union-attr]


def test_a_producer_that_aborted_then_committed_has_its_committed_records_read() -> None:
    log = Log(bytearray())
    log.append(2, producer=1, transactional=True)
    log.end_transaction(1, ABORT)
    log.append(2, producer=1, transactional=True)
    log.end_transaction(1, COMMIT)
    read = read_raw(TP, 0, bytes(log.data), [(1, 0)])
    assert [record.offset for record in read.records] == [3, 4]
