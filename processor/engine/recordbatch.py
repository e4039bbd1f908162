"""A lenient reader of Kafka record batches (magic v2), for fetches aiokafka cannot decode.

aiokafka decodes a whole fetch at once inside ``consumer.getmany()``. One record it cannot
decode (a header key that is not UTF-8 raises ``UnicodeDecodeError``; a corrupt batch or an
unknown codec raises too) makes ``getmany()`` raise for the whole fetch, again on every call; the
good records fetched before it never come out and the position never moves: the partition is
stuck. The processor recovers by fetching that partition's raw
bytes itself and reading them here, where nothing is decoded beyond bytes (header keys stay
bytes) and a batch that cannot be read at all comes back as an ``UnreadableBatch`` carrying its
offsets and raw bytes, so it can be dead-lettered and skipped.

Pure: bytes in, values out, no I/O. ``parse_batches`` never raises, whatever bytes it is given.
It only runs on that rare failure path, so it is plain Python that favours clarity over speed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from aiokafka.codec import gzip_decode, lz4_decode, snappy_decode, zstd_decode
from aiokafka.record.util import calc_crc32c

# The v2 batch header, big-endian: baseOffset, batchLength, partitionLeaderEpoch, magic, crc,
# attributes, lastOffsetDelta, baseTimestamp, maxTimestamp, producerId, producerEpoch,
# baseSequence, recordCount.
_HEADER = struct.Struct(">qiibIhiqqqhii")
# baseOffset and batchLength start every batch of every magic, so framing never needs the rest.
_FRAME = struct.Struct(">qi")
_MAGIC_AT = 16
# The CRC covers everything after itself; partitionLeaderEpoch stays outside so the broker can set
# it without recomputing the CRC.
_CRC_FROM = 21

_CODEC_MASK = 0x07
_LOG_APPEND_TIME = 0x08
_TRANSACTIONAL = 0x10
_CONTROL = 0x20

_DECOMPRESSORS: dict[int, tuple[str, Callable[[bytes], bytes]]] = {
    1: ("gzip", gzip_decode),
    2: ("snappy", snappy_decode),
    3: ("lz4", lz4_decode),
    4: ("zstd", zstd_decode),
}

# A zigzag varint never needs more than 10 bytes for a 64-bit value.
_VARINT_MAX_SHIFT = 70
_UNKNOWN_TIMESTAMP = -1


@dataclass(frozen=True, slots=True)
class RawRecord:
    offset: int
    timestamp: int  # ms; for LOG_APPEND_TIME batches the batch's max_timestamp
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[bytes, bytes | None], ...]  # keys as stored, possibly not UTF-8


@dataclass(frozen=True, slots=True)
class Batch:
    base_offset: int
    last_offset: int  # base_offset + last_offset_delta; may be past the last record (compaction)
    producer_id: int
    is_transactional: bool
    is_control: bool
    records: tuple[RawRecord, ...]


@dataclass(frozen=True, slots=True)
class UnreadableBatch:
    """A batch whose records cannot be read; its offsets say what to skip."""

    base_offset: int
    last_offset: int  # base_offset when the header could not be read (or is not v2)
    max_timestamp: int  # -1 when the header could not be read (or is not v2)
    reason: str  # one line, for logs and dead-letter headers
    raw: bytes  # the whole batch as stored (header + payload)


class _Header(NamedTuple):
    base_offset: int
    length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int


class _Malformed(Exception):
    """The bytes break the format; the message becomes an UnreadableBatch's reason."""


def parse_batches(data: bytes) -> list[Batch | UnreadableBatch]:
    """Every batch in ``data`` (a fetch's records bytes), in order; never raises.

    A last batch cut short is left out: brokers fill a fetch up to its size limit, so the last
    batch is often partial, and the next fetch from its base offset returns it whole.
    """
    found: list[Batch | UnreadableBatch] = []
    pos = 0
    while len(data) - pos >= _FRAME.size:
        base_offset, length = _FRAME.unpack_from(data, pos)
        if length < 0:
            # Nothing tells where the next batch starts, so the rest of the data is lost.
            reason = f"negative batch length {length}"
            found.append(_unreadable_frame(base_offset, reason, bytes(data[pos:])))
            break
        end = pos + _FRAME.size + length
        if end > len(data):
            break
        found.append(_parse_batch(bytes(data[pos:end])))
        pos = end
    return found


def _unreadable_frame(base_offset: int, reason: str, raw: bytes) -> UnreadableBatch:
    return UnreadableBatch(base_offset, base_offset, _UNKNOWN_TIMESTAMP, reason, raw)


def _parse_batch(raw: bytes) -> Batch | UnreadableBatch:
    base_offset = _FRAME.unpack_from(raw)[0]
    if len(raw) > _MAGIC_AT and raw[_MAGIC_AT] != 2:
        # v0/v1 messages lay out the rest differently; their offset field is the last offset.
        return _unreadable_frame(base_offset, f"unsupported magic {raw[_MAGIC_AT]}", raw)
    if len(raw) < _HEADER.size:
        reason = f"batch of {len(raw)} bytes is shorter than a v2 header"
        return _unreadable_frame(base_offset, reason, raw)
    header = _Header._make(_HEADER.unpack_from(raw))
    last_offset = base_offset + header.last_offset_delta
    try:
        records = _records_of(raw, header)
    except Exception as error:  # any input must come back as a value, never an exception
        return UnreadableBatch(base_offset, last_offset, header.max_timestamp, _reason(error), raw)
    return Batch(
        base_offset,
        last_offset,
        header.producer_id,
        bool(header.attributes & _TRANSACTIONAL),
        bool(header.attributes & _CONTROL),
        records,
    )


def _records_of(raw: bytes, header: _Header) -> tuple[RawRecord, ...]:
    if int(calc_crc32c(raw[_CRC_FROM:])) != header.crc:
        raise _Malformed("CRC mismatch")
    if header.record_count == 0:
        # Nothing to decompress; and aiokafka's snappy_decode fails on the empty xerial stream
        # (a bare 16-byte header) that a snappy-compressed empty payload is.
        return ()
    payload = _payload(raw[_HEADER.size :], header.attributes & _CODEC_MASK)
    return _read_records(payload, header)


def _reason(error: Exception) -> str:
    text = str(error) if isinstance(error, _Malformed) else f"{type(error).__name__}: {error}"
    return " ".join(text.split())


def _payload(payload: bytes, codec: int) -> bytes:
    if codec == 0:
        return payload
    if codec not in _DECOMPRESSORS:
        raise _Malformed(f"unknown compression codec {codec}")
    name, decompress = _DECOMPRESSORS[codec]
    try:
        return bytes(decompress(payload))
    except Exception as error:
        raise _Malformed(f"{name} decompression failed: {_reason(error)}") from error


def _read_records(buf: bytes, header: _Header) -> tuple[RawRecord, ...]:
    count = header.record_count
    if count < 0:
        raise _Malformed(f"negative record count {count}")
    records: list[RawRecord] = []
    pos = 0
    for index in range(count):
        try:
            length, pos = _varint(buf, pos, len(buf))
            end = pos + length
            if length < 0 or end > len(buf):
                raise _Malformed(f"bad record length {length}")
            record = _read_record(buf, pos, end, header)
        except _Malformed as error:
            raise _Malformed(f"{error} at record {index}") from error
        records.append(record)
        # The record's own length, not where its fields ended, says where the next one starts.
        pos = end
    return tuple(records)


def _read_record(buf: bytes, pos: int, end: int, header: _Header) -> RawRecord:
    if pos >= end:
        raise _Malformed("empty record")
    pos += 1  # record attributes: no bit is defined yet
    timestamp_delta, pos = _varint(buf, pos, end)
    offset_delta, pos = _varint(buf, pos, end)
    key, pos = _nullable_bytes(buf, pos, end, "key")
    value, pos = _nullable_bytes(buf, pos, end, "value")
    header_count, pos = _varint(buf, pos, end)
    if header_count < 0:
        raise _Malformed(f"negative header count {header_count}")
    headers: list[tuple[bytes, bytes | None]] = []
    for _ in range(header_count):
        name, pos = _nullable_bytes(buf, pos, end, "header key")
        if name is None:
            raise _Malformed("null header key")
        content, pos = _nullable_bytes(buf, pos, end, "header value")
        headers.append((name, content))
    if header.attributes & _LOG_APPEND_TIME:
        timestamp = header.max_timestamp  # the broker's append time, stamped on the batch only
    else:
        timestamp = header.base_timestamp + timestamp_delta
    offset = header.base_offset + offset_delta
    return RawRecord(offset, timestamp, key, value, tuple(headers))


def _nullable_bytes(buf: bytes, pos: int, end: int, what: str) -> tuple[bytes | None, int]:
    length, pos = _varint(buf, pos, end)
    if length < 0:
        return None, pos  # Kafka writes -1 for null; its own readers take any negative as null
    if pos + length > end:
        raise _Malformed(f"{what} length {length} runs past the record")
    return buf[pos : pos + length], pos + length


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """The zigzag varint at ``pos`` (not reading at or past ``end``) and the position after it."""
    result = 0
    shift = 0
    while shift < _VARINT_MAX_SHIFT:
        if pos >= end:
            raise _Malformed("bad varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
    raise _Malformed("bad varint")
