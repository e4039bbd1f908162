"""Reading a partition raw, for the records the Kafka client library cannot decode.

aiokafka decodes a fetch inside ``getmany``: a header key that is not UTF-8, a batch it cannot
decompress or whose checksum fails, raises out of ``getmany`` for the whole fetch, and the
position never moves, so one record would stop every partition for ever. On such an error intake
fetches each partition's next bytes itself and reads them with the lenient parser in
:mod:`processor.engine.recordbatch`: records that read well go on as usual, the others become dead
letters carrying whatever raw bytes could be read.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    NoError,
    UnsupportedCodecError,
    for_code,
)
from aiokafka.protocol.fetch import FetchRequest

from processor.engine.deadletter import Cause
from processor.engine.recordbatch import Batch, RawRecord, UnreadableBatch, parse_batches
from processor.metadata import refresh_metadata

READ_UNCOMMITTED = 0
READ_COMMITTED = 1
# A control record's key: version (int16), then its type: 0 marks an abort, 1 a commit.
ABORT_MARKER = 0


def undecodable(error: BaseException) -> bool:
    """Did ``getmany`` raise because of the fetched bytes, rather than the cluster?

    aiokafka's decoding raises plain exceptions (``UnicodeDecodeError``, decompression errors)
    or these two Kafka errors; every other Kafka error is about the cluster.
    """
    if isinstance(error, KafkaError):
        return isinstance(error, (UnsupportedCodecError, CorruptRecordException))
    return isinstance(error, Exception)


class RawConsumerRecord(NamedTuple):
    """The fields of aiokafka's ``ConsumerRecord`` that intake reads, from a raw read."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


class RawRead(NamedTuple):
    """What a raw read of one partition found: records in offset order, why some cannot be
    processed (by offset), and where the consumer goes on reading."""

    records: list[RawConsumerRecord]
    failures: dict[int, Cause]
    next_offset: int


class Fetched(NamedTuple):
    """A raw fetch of one partition: the stored bytes, and (read_committed) the transactions the
    broker says were aborted in them, as (producer id, first offset)."""

    data: bytes
    aborted: list[tuple[int, int]]


async def fetch_raw(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    offset: int,
    max_bytes: int,
    read_committed: bool = False,
) -> Fetched:
    """The stored bytes of ``tp`` from ``offset`` on (at least one batch if there is one).

    With ``read_committed`` the broker returns nothing past the last stable offset (no open
    transaction's records) and lists the aborted transactions.

    Uses the consumer's own connections (aiokafka's client, not public API) so that security
    settings and metadata are the consumer's.
    """
    client: Any = consumer._client
    node = client.cluster.leader_for_partition(tp)
    if node is None or node == -1:
        await refresh_metadata(consumer)
        node = client.cluster.leader_for_partition(tp)
    isolation = READ_COMMITTED if read_committed else READ_UNCOMMITTED
    request = FetchRequest(0, 1, max_bytes, isolation,
                           [(tp.topic, [(tp.partition, offset, max_bytes)])])  # fmt: skip
    response = await client.send(node, request)
    for _, partitions in response.topics:
        for _, error_code, _, *data in partitions:
            error = for_code(error_code)
            if error is not NoError:
                raise error(f"raw fetch of {tp.topic}/{tp.partition} at {offset}")
            # The fields between the high watermark and the records depend on the version
            # aiokafka negotiated; the aborted transactions are its one list.
            aborted = next((field for field in data[:-1] if isinstance(field, list)), None)
            return Fetched(bytes(data[-1] or b""), [(pid, first) for pid, first in aborted or ()])
    return Fetched(b"", [])


async def read_partition_raw(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    offset: int,
    max_bytes: int,
    read_committed: bool = False,
) -> RawRead:
    """Fetch ``tp`` from ``offset`` and read it leniently; the consumer is moved past it.

    With ``read_committed`` the records of aborted transactions are left out, as the consumer
    leaves them out."""
    fetched = await fetch_raw(consumer, tp, offset, max_bytes, read_committed)
    read = read_raw(tp, offset, fetched.data, fetched.aborted if read_committed else None)
    consumer.seek(tp, read.next_offset)
    return read


def read_raw(
    tp: TopicPartition, offset: int, data: bytes, aborted: list[tuple[int, int]] | None = None
) -> RawRead:
    """The records of ``data`` from ``offset`` on, each one that cannot go on with its failure.

    Control batches (transaction markers) are passed over, as the consumer does; with
    ``aborted`` (read_committed), so are the batches of aborted transactions.
    """
    records: list[RawConsumerRecord] = []
    failures: dict[int, Cause] = {}
    next_offset = offset
    batches = parse_batches(data)
    for batch in batches if aborted is None else committed_batches(batches, aborted):
        if batch.last_offset < next_offset:
            continue
        if isinstance(batch, UnreadableBatch):
            first = max(batch.base_offset, next_offset)
            records.append(RawConsumerRecord(tp.topic, tp.partition, first, batch.max_timestamp,
                                             None, batch.raw, ()))  # fmt: skip
            message = (f"offsets {first} to {batch.last_offset} could not be read "
                       f"({batch.reason}); the value is the stored batch")  # fmt: skip
            failures[first] = Cause("decode", "UndecodableBatch", message)
        elif not batch.is_control:
            _take_batch(tp, batch, next_offset, records, failures)
        next_offset = batch.last_offset + 1
    if batches:  # past skipped batches too, so the next read goes on after them
        next_offset = max(next_offset, batches[-1].last_offset + 1)
    return RawRead(records, failures, next_offset)


def committed_batches(
    batches: list[Batch | UnreadableBatch], aborted: list[tuple[int, int]]
) -> list[Batch | UnreadableBatch]:
    """The batches a read_committed consumer sees, given the aborted transactions a fetch
    listed as (producer id, first offset).

    Kafka's rule: a producer's transactional batches from an aborted transaction's first offset
    on are aborted, until that producer's abort marker (a control batch). Control batches are
    kept (the reader passes over them); unreadable batches are kept (they become dead letters).
    """
    pending = sorted((first, pid) for pid, first in aborted)
    aborting: set[int] = set()
    kept: list[Batch | UnreadableBatch] = []
    index = 0
    for batch in batches:
        if isinstance(batch, UnreadableBatch):
            kept.append(batch)
            continue
        while index < len(pending) and pending[index][0] <= batch.last_offset:
            aborting.add(pending[index][1])
            index += 1
        if batch.is_control:
            if _is_abort_marker(batch):
                aborting.discard(batch.producer_id)
            kept.append(batch)
        elif not (batch.is_transactional and batch.producer_id in aborting):
            kept.append(batch)
    return kept


def _is_abort_marker(batch: Batch) -> bool:
    key = batch.records[0].key if batch.records else None
    return key is None or len(key) < 4 or int.from_bytes(key[2:4], "big") == ABORT_MARKER


def _take_batch(
    tp: TopicPartition,
    batch: Batch,
    start: int,
    records: list[RawConsumerRecord],
    failures: dict[int, Cause],
) -> None:
    for record in batch.records:
        if record.offset < start:
            continue
        headers, problem = _headers(record)
        records.append(RawConsumerRecord(tp.topic, tp.partition, record.offset,
                                         record.timestamp, record.key, record.value,
                                         headers))  # fmt: skip
        if problem is not None:
            failures[record.offset] = Cause("decode", "InvalidHeaderKey", problem)


def _headers(record: RawRecord) -> tuple[tuple[tuple[str, bytes | None], ...], str | None]:
    """Header keys as text; one that is not UTF-8 is written with ``\\x`` escapes and named."""
    headers: list[tuple[str, bytes | None]] = []
    bad: list[int] = []
    for index, (name, value) in enumerate(record.headers):
        try:
            headers.append((name.decode("utf-8"), value))
        except UnicodeDecodeError:
            headers.append((name.decode("utf-8", "backslashreplace"), value))
            bad.append(index)
    if not bad:
        return tuple(headers), None
    where = ", ".join(str(i) for i in bad[:10])
    problem = (f"header key(s) at position {where} are not UTF-8; written here with \\x "
               "escapes")  # fmt: skip
    return tuple(headers), problem
