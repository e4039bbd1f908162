"""A test encoder of Kafka v2 record batches, able to write what aiokafka's builder refuses.

aiokafka's builder only takes ``str`` header keys; this one writes header keys as the raw bytes
given (so not UTF-8 is possible), and on request a wrong magic, an unknown codec or a bad CRC.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from aiokafka.codec import gzip_encode, lz4_encode, snappy_encode, zstd_encode
from aiokafka.record.util import calc_crc32c

from processor.engine.recordbatch import RawRecord

_HEADER = struct.Struct(">qiibIhiqqqhii")
_FRAME_SIZE = 12  # baseOffset + batchLength
_CRC_AT = 17
_CRC_FROM = 21  # the CRC covers attributes to the end

_COMPRESSORS: dict[int, Callable[[bytes], bytes]] = {
    1: gzip_encode,
    2: snappy_encode,
    3: lz4_encode,
    4: zstd_encode,
}

LOG_APPEND_TIME = 0x08
TRANSACTIONAL = 0x10
CONTROL = 0x20


def encode_batch(
    base_offset: int,
    records: Sequence[RawRecord],
    *,
    codec: int = 0,
    base_timestamp: int | None = None,
    producer_id: int = -1,
    transactional: bool = False,
    control: bool = False,
    log_append_time: bool = False,
    magic: int = 2,
    corrupt_crc: bool = False,
) -> bytes:
    """One batch holding ``records``, their offsets and timestamps stored as deltas.

    ``base_timestamp`` defaults to the first record's. A codec without a compressor here (5-7)
    is still written to the attributes, over an uncompressed payload, to test readers with it.
    """
    if base_timestamp is None:
        base_timestamp = records[0].timestamp if records else 0
    payload = b"".join(_encode_record(r, base_offset, base_timestamp) for r in records)
    compress = _COMPRESSORS.get(codec)
    if compress is not None:
        payload = bytes(compress(payload))
    attributes = codec
    attributes |= LOG_APPEND_TIME if log_append_time else 0
    attributes |= TRANSACTIONAL if transactional else 0
    attributes |= CONTROL if control else 0
    idempotent = producer_id >= 0
    batch = bytearray(_HEADER.size) + payload
    _HEADER.pack_into(
        batch,
        0,
        base_offset,
        len(batch) - _FRAME_SIZE,
        -1,  # partitionLeaderEpoch: the broker sets it
        magic,
        0,  # CRC: computed over the finished batch below
        attributes,
        max((r.offset for r in records), default=base_offset) - base_offset,
        base_timestamp,
        max((r.timestamp for r in records), default=base_timestamp),
        producer_id,
        0 if idempotent else -1,  # producerEpoch
        0 if idempotent else -1,  # baseSequence
        len(records),
    )
    sealed = reseal(bytes(batch))
    if corrupt_crc:
        crc = struct.unpack_from(">I", sealed, _CRC_AT)[0]
        return _with_crc(sealed, crc ^ 0xFFFFFFFF)
    return sealed


def reseal(batch: bytes) -> bytes:
    """``batch`` with its length and CRC made to match its bytes again, e.g. after an edit."""
    resized = bytearray(batch)
    struct.pack_into(">i", resized, 8, len(resized) - _FRAME_SIZE)
    return _with_crc(bytes(resized), int(calc_crc32c(bytes(resized[_CRC_FROM:]))))


def _with_crc(batch: bytes, crc: int) -> bytes:
    edited = bytearray(batch)
    struct.pack_into(">I", edited, _CRC_AT, crc)
    return bytes(edited)


def _encode_record(record: RawRecord, base_offset: int, base_timestamp: int) -> bytes:
    body = bytearray(b"\x00")  # record attributes: none defined
    body += _varint(record.timestamp - base_timestamp)
    body += _varint(record.offset - base_offset)
    body += _nullable(record.key)
    body += _nullable(record.value)
    body += _varint(len(record.headers))
    for name, content in record.headers:
        body += _varint(len(name)) + name
        body += _nullable(content)
    return _varint(len(body)) + bytes(body)


def _nullable(data: bytes | None) -> bytes:
    return _varint(-1) if data is None else _varint(len(data)) + data


def _varint(value: int) -> bytes:
    """Zigzag then base-128, low group first, as Kafka's varints and varlongs are written."""
    zigzag = (value << 1) ^ (value >> 63)
    out = bytearray()
    while zigzag > 0x7F:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)
