"""recordbatch: every v2 batch reads back exactly; no input bytes at all make it raise."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.engine.recordbatch import Batch, RawRecord, UnreadableBatch, parse_batches
from tests.batches import encode_batch, reseal

CODECS = [0, 1, 2, 3, 4]
HEADER_SIZE = 61
LEADER_EPOCH = range(12, 16)  # the one header field a Batch does not show

NOT_UTF8 = [b"\xff\xfe-bad", b"\xc3\x28", b"\x80", b"ok\xed\xa0\x80"]  # the last: a surrogate
header_names = st.binary(max_size=12) | st.sampled_from(NOT_UTF8)
headers = st.lists(st.tuples(header_names, st.none() | st.binary(max_size=12)), max_size=4)
timestamps = st.integers(min_value=0, max_value=2**42)
base_offsets = st.integers(min_value=0, max_value=2**40)


@st.composite
def record_lists(draw: st.DrawFn, base_offset: int, max_size: int = 6) -> list[RawRecord]:
    """Records with increasing offsets from ``base_offset``, gaps allowed (compaction)."""
    offset = base_offset + draw(st.integers(min_value=0, max_value=2))
    records = []
    for _ in range(draw(st.integers(min_value=0, max_value=max_size))):
        key = draw(st.none() | st.binary(max_size=20))
        value = draw(st.none() | st.binary(max_size=200))
        records.append(RawRecord(offset, draw(timestamps), key, value, tuple(draw(headers))))
        offset += draw(st.integers(min_value=1, max_value=3))
    return records


@st.composite
def batches(draw: st.DrawFn, base_offset: int | None = None) -> tuple[bytes, Batch]:
    """A valid encoded batch in any codec, and the Batch it must read back as."""
    base = draw(base_offsets) if base_offset is None else base_offset
    records = draw(record_lists(base))
    codec = draw(st.sampled_from(CODECS))
    return encode_batch(base, records, codec=codec), expected(base, records)


@st.composite
def batch_runs(draw: st.DrawFn) -> tuple[bytes, list[Batch]]:
    """Several batches back to back, as a fetch returns them."""
    base = draw(base_offsets)
    data, found = b"", []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        encoded, batch = draw(batches(base))
        data += encoded
        found.append(batch)
        base = batch.last_offset + 1
    return data, found


def expected(base_offset: int, records: list[RawRecord], **flags: Any) -> Batch:
    last = records[-1].offset if records else base_offset
    producer_id = flags.get("producer_id", -1)
    transactional = flags.get("transactional", False)
    control = flags.get("control", False)
    return Batch(base_offset, last, producer_id, transactional, control, tuple(records))


def only(data: bytes) -> Batch | UnreadableBatch:
    found = parse_batches(data)
    assert len(found) == 1, found
    return found[0]


def unreadable(data: bytes) -> UnreadableBatch:
    found = only(data)
    assert isinstance(found, UnreadableBatch), found
    assert found.raw == data
    return found


def record(offset: int = 0, **fields: Any) -> RawRecord:
    values: dict[str, Any] = {"timestamp": 1_000, "key": b"k", "value": b"v", "headers": ()}
    values.update(fields)
    return RawRecord(offset, **values)


@pytest.mark.parametrize("codec", CODECS)
@given(data=st.data(), base_offset=base_offsets)
def test_any_records_read_back_exactly_in_every_codec(
    codec: int, data: st.DataObject, base_offset: int
) -> None:
    records = data.draw(record_lists(base_offset, max_size=10))
    assert parse_batches(encode_batch(base_offset, records, codec=codec)) == [
        expected(base_offset, records)
    ]


@given(
    data=st.data(),
    producer_id=st.integers(min_value=-1, max_value=2**40),
    transactional=st.booleans(),
    control=st.booleans(),
)
def test_producer_and_flags_read_back(
    data: st.DataObject, producer_id: int, transactional: bool, control: bool
) -> None:
    records = data.draw(record_lists(100))
    flags: dict[str, Any] = {
        "producer_id": producer_id,
        "transactional": transactional,
        "control": control,
    }
    assert parse_batches(encode_batch(100, records, **flags)) == [expected(100, records, **flags)]


@pytest.mark.parametrize("codec", CODECS)
@given(data=st.data())
def test_log_append_time_gives_every_record_the_batch_max_timestamp(
    codec: int, data: st.DataObject
) -> None:
    records = data.draw(record_lists(7))
    batch = only(encode_batch(7, records, codec=codec, log_append_time=True))
    assert isinstance(batch, Batch)
    newest = max((r.timestamp for r in records), default=0)
    assert [r.timestamp for r in batch.records] == [newest] * len(records)
    assert [(r.offset, r.key, r.value, r.headers) for r in batch.records] == [
        (r.offset, r.key, r.value, r.headers) for r in records
    ]


@given(run=batch_runs())
def test_batches_back_to_back_all_read_back_in_order(run: tuple[bytes, list[Batch]]) -> None:
    data, found = run
    assert parse_batches(data) == found


@given(run=batch_runs(), data=st.data())
def test_a_batch_cut_short_at_the_end_is_left_out(
    run: tuple[bytes, list[Batch]], data: st.DataObject
) -> None:
    encoded, found = run
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded)))
    complete, end = 0, 0
    for _ in found:
        end += len(batch_at(encoded, end))
        if end > cut:
            break
        complete += 1
    assert parse_batches(encoded[:cut]) == found[:complete]


def batch_at(data: bytes, pos: int) -> bytes:
    """The batch starting at ``pos`` in ``data``, framed by its own length field."""
    length = struct.unpack_from(">i", data, pos + 8)[0]
    return data[pos : pos + 12 + length]


@settings(max_examples=500)
@given(garbage=st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(garbage: bytes) -> None:
    for found in parse_batches(garbage):
        assert isinstance(found, Batch | UnreadableBatch)


@settings(max_examples=300)
@given(
    codec=st.sampled_from([*CODECS, 5, 6, 7]),
    count=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    payload=st.binary(max_size=300),
)
def test_arbitrary_payload_under_a_valid_header_and_crc_never_raises(
    codec: int, count: int, payload: bytes
) -> None:
    header = bytearray(encode_batch(0, [], codec=0))
    header[22] = codec  # low byte of the attributes
    struct.pack_into(">i", header, 57, count)
    found = only(reseal(bytes(header) + payload))
    assert isinstance(found, Batch | UnreadableBatch)


@settings(max_examples=300)
@given(encoded=batches(), data=st.data())
def test_one_changed_byte_gives_an_unreadable_or_different_batch(
    encoded: tuple[bytes, Batch], data: st.DataObject
) -> None:
    raw, batch = encoded
    at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    changed = bytearray(raw)
    changed[at] ^= data.draw(st.integers(min_value=1, max_value=255))
    found = parse_batches(bytes(changed))
    if at in LEADER_EPOCH:
        assert found == [batch]
    else:
        assert found != [batch]


@settings(max_examples=300)
@given(encoded=batches(), data=st.data())
def test_changed_record_bytes_under_a_fixed_crc_give_one_batch_and_never_raise(
    encoded: tuple[bytes, Batch], data: st.DataObject
) -> None:
    raw, _ = encoded
    if len(raw) == HEADER_SIZE:
        raw += b"\x00"
    at = data.draw(st.integers(min_value=HEADER_SIZE, max_value=len(raw) - 1))
    changed = bytearray(raw)
    changed[at] = data.draw(st.integers(min_value=0, max_value=255))
    assert isinstance(only(reseal(bytes(changed))), Batch | UnreadableBatch)


@pytest.mark.parametrize("codec", [5, 6, 7])
def test_an_unknown_codec_is_unreadable_with_its_offsets(codec: int) -> None:
    data = encode_batch(40, [record(40, timestamp=5), record(42, timestamp=9)], codec=codec)
    found = unreadable(data)
    assert found.reason == f"unknown compression codec {codec}"
    assert (found.base_offset, found.last_offset, found.max_timestamp) == (40, 42, 9)


@pytest.mark.parametrize("magic", [0, 1, 3])
def test_a_magic_other_than_2_is_unreadable(magic: int) -> None:
    found = unreadable(encode_batch(8, [record(8)], magic=magic))
    assert found.reason == f"unsupported magic {magic}"
    assert (found.base_offset, found.last_offset) == (8, 8)


def test_a_crc_mismatch_is_unreadable() -> None:
    found = unreadable(encode_batch(3, [record(3), record(4)], corrupt_crc=True))
    assert (found.reason, found.base_offset, found.last_offset) == ("CRC mismatch", 3, 4)


def test_a_corrupt_compressed_payload_is_unreadable_naming_the_codec() -> None:
    raw = encode_batch(0, [record(0, value=b"x" * 100)], codec=1)
    broken = reseal(raw[:HEADER_SIZE] + b"not gzip at all")
    assert unreadable(broken).reason.startswith("gzip decompression failed: ")


def test_a_record_running_past_the_batch_is_unreadable_naming_the_record() -> None:
    raw = encode_batch(0, [record(0), record(1, value=b"long value")])
    found = unreadable(reseal(raw[:-3]))
    assert found.reason.endswith("at record 1"), found.reason


def test_a_not_utf8_header_key_reads_back_as_bytes() -> None:
    bad = record(0, headers=((b"\xff\xfe-bad", b"v"), (b"ok", None)))
    batch = only(encode_batch(0, [record(0), bad]))
    assert isinstance(batch, Batch)
    assert batch.records[1].headers == ((b"\xff\xfe-bad", b"v"), (b"ok", None))


def test_bytes_left_over_inside_a_record_do_not_shift_the_next_record() -> None:
    first, second = record(0, value=b"first"), record(1, value=b"second")
    raw = bytearray(encode_batch(0, [first, second]))
    length = raw[HEADER_SIZE] >> 1  # a one-byte zigzag varint
    raw[HEADER_SIZE] = (length + 3) << 1
    raw[HEADER_SIZE + 1 + length : HEADER_SIZE + 1 + length] = b"\x01\x02\x03"
    assert parse_batches(reseal(bytes(raw))) == [expected(0, [first, second])]


def test_a_batch_too_short_for_a_header_is_unreadable_and_the_next_one_still_reads() -> None:
    short = struct.pack(">qi", 11, 5) + b"\x00\x00\x00\x00\x02"
    good = encode_batch(12, [record(12)])
    found = parse_batches(short + good)
    assert isinstance(found[0], UnreadableBatch)
    assert (found[0].base_offset, found[0].last_offset, found[0].raw) == (11, 11, short)
    assert found[1:] == [expected(12, [record(12)])]


def test_a_negative_batch_length_is_unreadable_and_ends_the_parse() -> None:
    good = encode_batch(0, [record(0)])
    rest = struct.pack(">qi", 1, -7) + good
    found = parse_batches(good + rest)
    assert found[0] == expected(0, [record(0)])
    assert isinstance(found[1], UnreadableBatch)
    assert (found[1].reason, found[1].raw, len(found)) == ("negative batch length -7", rest, 2)


@pytest.mark.parametrize("codec", CODECS)
@given(data=st.data())
def test_batches_built_by_aiokafka_read_as_aiokafka_reads_them(
    codec: int, data: st.DataObject
) -> None:
    names = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
    entries = data.draw(
        st.lists(
            st.tuples(
                timestamps,
                st.none() | st.binary(max_size=20),
                st.none() | st.binary(max_size=200),
                st.lists(st.tuples(names, st.none() | st.binary(max_size=12)), max_size=3),
            ),
            min_size=1,
            max_size=8,
        )
    )
    builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 1 << 20)
    for offset, (timestamp, key, value, entry_headers) in enumerate(entries):
        assert builder.append(offset, timestamp, key, value, entry_headers) is not None
    raw = bytes(builder.build())

    theirs = [
        RawRecord(
            r.offset, r.timestamp, r.key, r.value, tuple((k.encode(), v) for k, v in r.headers)
        )
        for r in MemoryRecords(raw).next_batch()
    ]
    assert len(theirs) == len(entries)
    assert parse_batches(raw) == [expected(0, theirs)]
