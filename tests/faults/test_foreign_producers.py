"""Scenario 7: hostile input written by a foreign producer (confluent-kafka, i.e. librdkafka).

Other clients write what aiokafka never does: librdkafka's batches in every codec, null header
values, a thousand headers, repeated and unprintable header names, records with neither key nor
value, values right at the broker's size limit or far past it once compressed. Whatever arrives,
each record must land exactly once where its content says (an output, or a dead letter naming the
stage and class that failed), a dead letter must keep the original record byte for byte (or, when
it had to be cut to fit, say so with ``dlq.cut`` and keep a prefix of it), and the processor must
never stop on its own.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from processor import headers as h
from processor.commands.deadletters import UNSAFE, DeadLetter
from processor.commands.dlq_render import counted, listed, whole
from processor.config import Settings
from processor.pipeline import Source
from processor.pipelines.transactions import Transaction
from processor.pipelines.transactions import pipeline as transactions
from tests.confluent import CODECS, Codec, Headers, produce_confluent, stored_batches
from tests.faults.campaign import ScenarioResult, audit_run, scale
from tests.kafka_support import (
    Delivery,
    all_committed,
    collect,
    create_topics,
    header,
    read_all,
    running,
    settings_for,
    valid_value,
)

BROKER_MAX_MESSAGE_BYTES = 1_048_588  # the broker's default message.max.bytes (1 MiB + 12)
# The dlq.* headers a dead letter gains weigh at least this much (their names alone: ~180 bytes).
DEAD_LETTER_HEADERS_AT_LEAST = 200
COMFORTABLY_UNDER = BROKER_MAX_MESSAGE_BYTES - 16 * 1024
COMMIT_TIMEOUT_S = 90.0

Coordinates: TypeAlias = tuple[int, int]  # (input partition, input offset)
# Where a record must land: ("output", "additions" | "refunds"), or a dead letter's (stage, class).
Outcome: TypeAlias = tuple[str, str]
ADDITIONS: Outcome = ("output", "additions")
REFUNDS: Outcome = ("output", "refunds")
NOT_JSON: Outcome = ("decode", "JSONDecodeError")
NOT_UTF8: Outcome = ("decode", "UnicodeDecodeError")
NULL_VALUE: Outcome = ("decode", "NullValue")
INVALID: Outcome = ("validate", "ValidationError")
OUTPUT_TOO_LARGE: Outcome = ("route", "RecordTooLarge")


@dataclass(frozen=True)
class Case:
    """One input record and where it must land."""

    kind: str  # what is hostile about it, for failure messages
    key: bytes | None
    value: bytes | None
    headers: Headers
    expected: Outcome


@dataclass(frozen=True)
class Shipment:
    """Records one confluent-kafka producer sends in one codec, batched together."""

    codec: Codec
    cases: list[Case]
    # Many compressible records: each must be stored in a batch of ``codec`` with others. Else
    # librdkafka may store a batch uncompressed when compressing would not make it smaller.
    batched: bool = False


@dataclass(frozen=True)
class Sent:
    """A case as the broker acknowledged it."""

    case: Case
    shipment: Shipment


def valid(kind: str, index: int, headers: Headers = (), key: bytes | None = None) -> Case:
    account = f"acct-{index % 7}"
    op, expected = ("add", ADDITIONS) if index % 3 else ("refund", REFUNDS)
    value = valid_value(f"{kind}-{index}", account, op)
    return Case(kind, account.encode() if key is None else key, value, headers, expected)


def _broken_values() -> list[tuple[bytes | None, Outcome]]:
    good = json.loads(valid_value("broken", "acct", "add"))
    return [
        (b"not json at all", NOT_JSON),
        (b'{"id": "truncated', NOT_JSON),
        (b"\xff\xfe\x00garbage", NOT_UTF8),
        (b"[1, 2, 3]", INVALID),
        (json.dumps({**good, "amount": "12.345"}).encode(), INVALID),
        (json.dumps({**good, "currency": "eur"}).encode(), INVALID),
        (None, NULL_VALUE),
    ]


BROKEN = _broken_values()


def broken(kind: str, index: int, headers: Headers = (), key: bytes | None = None) -> Case:
    value, expected = BROKEN[index % len(BROKEN)]
    return Case(kind, f"acct-{index % 7}".encode() if key is None else key, value, headers,
                expected)  # fmt: skip


def codec_batch(codec: Codec, count: int) -> Shipment:
    """Valid and broken transactions mixed, one producer with ``compression.type=codec``."""
    kind = f"{codec} batch"
    tag: Headers = (("codec", codec.encode()),)
    cases = [broken(kind, i // 4, tag) if i % 4 == 3 else valid(kind, i, tag) for i in range(count)]
    return Shipment(codec, cases, batched=True)


NULL_HEADER_VALUES: list[Headers] = [
    (("h", None),),
    (("h", None), ("after", b"1")),
    (("", None), ("h", b""), ("h2", None)),
]
THOUSAND_HEADERS: Headers = tuple((f"h-{i:04}", str(i).encode()) for i in range(1000))
DUPLICATE_NAMES: Headers = (("dup", b"1"), ("dup", b"2"), ("dup", b""), ("dup", b"1"))
# A producer's own dlq.* headers (as on a replayed record) are replaced by the processor's.
FORGED_DLQ_HEADERS: Headers = (
    (h.DLQ_CLASS, b"Forged"),
    (h.DLQ_STAGE, b"nowhere"),
    (h.DLQ_CLASS, b"Again"),
    ("after-forged", b"kept"),
)
# No NUL in names: librdkafka takes header names as C strings and would cut them there.
UNPRINTABLE_NAMES: Headers = (
    ("\x01soh\x02stx", b"nul \x00 in a value"),
    ("tab\tnew\nline\r", b""),
    ("\x1b[31mred\x7f", b"\xff\xfe not utf-8"),
    ("naïve ключ 鍵 🔑", "ü".encode()),
    ("", b"an empty name"),
    (" ", b" "),
)


def hostile_headers(repeat: int) -> Shipment:
    """Every header oddity, on valid and on broken records alike."""
    variants = [("null header values", hs) for hs in NULL_HEADER_VALUES]
    variants += [
        ("1,000 headers", THOUSAND_HEADERS),
        ("duplicate header names", DUPLICATE_NAMES),
        ("forged dlq.* headers", FORGED_DLQ_HEADERS),
        ("control characters and non-ASCII in header names", UNPRINTABLE_NAMES),
    ]
    cases: list[Case] = []
    for n in range(repeat):
        for v, (kind, headers) in enumerate(variants):
            index = n * len(variants) + v
            cases += [valid(kind, index, headers), broken(kind, index, headers)]
    return Shipment("lz4", cases)


def hostile_keys_and_tombstones(repeat: int) -> Shipment:
    huge = b"k" * 100_000
    cases: list[Case] = []
    for n in range(repeat):
        cases += [
            valid("100 KB key", n, key=huge + str(n).encode()),
            valid("empty key", n, key=b""),
            broken("empty key", n, key=b""),
            Case("tombstone with a key", f"acct-{n % 7}".encode(), None, (), NULL_VALUE),
            Case("tombstone without a key", None, None, (), NULL_VALUE),
            Case("tombstone with a null header", None, None, (("h", None),), NULL_VALUE),
        ]
    return Shipment("gzip", cases)


def broken_json(size: int) -> bytes:
    """``size`` bytes that start like a transaction and never finish (not JSON)."""
    return b'{"id": "' + b"n" * (size - 8)


def incomplete_transaction(size: int) -> bytes:
    """``size`` bytes of JSON with an id and nothing else (fails validation)."""
    return b'{"id": "' + b"n" * (size - 10) + b'"}'


def transaction_with_id_of(length: int) -> bytes:
    body = json.loads(valid_value("x", "acct-limit", "add"))
    return json.dumps({**body, "id": "i" * length}).encode()


def output_bytes(value: bytes) -> tuple[int, int]:
    """At least and at most how many bytes of key, value and headers the output of ``value`` has.

    The id appears twice: in the value and as the ``event-id`` header.
    """
    source = Source("input", 0, 0, None, (), 0)
    output = transactions.route(Transaction.model_validate_json(value), source)
    assert isinstance(output.value, bytes)
    assert isinstance(output.key, bytes)
    least = len(output.value) + len(output.event_id or "")
    return least, least + len(output.key or b"") + len(h.EVENT_ID) + len(h.SOURCE) + 300


def near_the_limits() -> list[Shipment]:
    """Sizes on both sides of the broker's limit, for dead letters and for outputs."""
    cannot_fit = BROKER_MAX_MESSAGE_BYTES - DEAD_LETTER_HEADERS_AT_LEAST
    output_under = transaction_with_id_of((COMFORTABLY_UNDER - 1000) // 2)
    output_over = transaction_with_id_of(BROKER_MAX_MESSAGE_BYTES // 2 + 100)
    # The corpus itself must sit where it claims to.
    assert output_bytes(output_under)[1] < COMFORTABLY_UNDER
    assert BROKER_MAX_MESSAGE_BYTES < output_bytes(output_over)[0] < BROKER_MAX_MESSAGE_BYTES + 1000
    key = b"acct-limit"
    return [
        Shipment("none", [
            Case("dead letter fits: value 16 KB under the limit", key,
                 broken_json(COMFORTABLY_UNDER), (), NOT_JSON),
            Case("dead letter cannot fit: not JSON, just under the limit", key,
                 broken_json(cannot_fit), (), NOT_JSON),
            Case("dead letter cannot fit: invalid transaction, just under the limit", key,
                 incomplete_transaction(cannot_fit), (), INVALID),
            Case("output fits: 16 KB under the limit", key, output_under, (), ADDITIONS),
            Case("output just over the limit", key, output_over, (), OUTPUT_TOO_LARGE),
        ]),
        # Fits the broker only compressed: 3 MiB of one byte is a few hundred bytes in zstd.
        Shipment("zstd", [
            Case("3 MiB value that fits only compressed", key, broken_json(3 * 1024 * 1024),
                 (), NOT_JSON),
        ]),
    ]  # fmt: skip


def corpus() -> list[Shipment]:
    shipments = [codec_batch(codec, scale(40, 600)) for codec in CODECS]
    shipments += [hostile_headers(scale(2, 20)), hostile_keys_and_tombstones(scale(3, 30))]
    return shipments + near_the_limits()


def ship(bootstrap: str, topic: str, shipments: Sequence[Shipment]) -> dict[Coordinates, Sent]:
    """Produce every shipment with its own producer; what lies at which coordinates."""
    sent: dict[Coordinates, Sent] = {}
    for shipment in shipments:
        records = [(c.key, c.value, c.headers, None) for c in shipment.cases]
        delivered = produce_confluent(bootstrap, topic, records, compression=shipment.codec)
        for where, case in zip(delivered, shipment.cases, strict=True):
            sent[(where.partition, where.offset)] = Sent(case, shipment)
    return sent


async def stored_otherwise_than_sent(
    bootstrap: str, topic: str, sent: dict[Coordinates, Sent]
) -> list[str]:
    """Records the broker does not hold exactly as sent, in their codec, batched with others.

    Anything here is the corpus's fault (or the producer's), not the processor's.
    """
    wrong: list[str] = []
    for record in await read_all(bootstrap, topic):
        case = sent[(record.partition, record.offset)].case
        stored_as = (record.key, record.value, list(record.headers))
        if stored_as != (case.key, case.value, list(case.headers)):
            found = f"{_short(record.key)}, {_short(record.value)}, {stored_as[2][:3]}"
            wrong.append(f"{case.kind} at {record.partition}/{record.offset}: stored as {found}")
    stored = {
        (batch.partition, offset): batch
        for batch in await stored_batches(bootstrap, topic)
        for offset in range(batch.base_offset, batch.next_offset)
    }
    for where, s in sent.items():
        codec, found_in = s.shipment.codec, stored[where].codec
        if found_in != codec and (s.shipment.batched or found_in != "none"):
            wrong.append(f"{s.case.kind} at {where}: sent in {codec}, stored in {found_in}")
    for codec in CODECS:
        records = [w for w, s in sent.items() if s.shipment.batched and s.shipment.codec == codec]
        batches = {stored[where] for where in records}
        if len(batches) >= len(records):
            wrong.append(f"{codec}: {len(records)} records in {len(batches)} batches, none shared")
    return wrong


async def committed_before_it_stops(
    settings: Settings, task: asyncio.Task[int], timeout_s: float
) -> bool:
    """Wait for every input offset to be committed, or for the processor to end, if sooner."""
    waiting = asyncio.ensure_future(all_committed(settings, timeout_s))
    await asyncio.wait({waiting, task}, return_when=asyncio.FIRST_COMPLETED)
    if not waiting.done():
        waiting.cancel()
        return False
    return waiting.result()


def how_it_ended(task: asyncio.Task[int]) -> str:
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    return f"raised {error!r}" if error is not None else f"returned {task.result()}"


def dead_letter_coordinates(letter: Any, input_topic: str) -> Coordinates | None:
    topic = header(letter, h.DLQ_SOURCE_TOPIC)
    partition = header(letter, h.DLQ_SOURCE_PARTITION)
    offset = header(letter, h.DLQ_SOURCE_OFFSET)
    if topic != input_topic.encode() or partition is None or offset is None:
        return None
    return int(partition), int(offset)


def output_coordinates(record: Any, input_topic: str) -> Coordinates | None:
    topic, _, where = (header(record, h.SOURCE) or b"").decode().partition("/")
    partition, _, offset = where.partition("/")
    if topic != input_topic or not (partition.isdigit() and offset.isdigit()):
        return None
    return int(partition), int(offset)


def landings(delivery: Delivery, input_topic: str) -> dict[Coordinates | None, list[Outcome]]:
    """Every outcome found for each input record (None: records that do not say their source)."""
    found: dict[Coordinates | None, list[Outcome]] = {}
    for topic, records in delivery.outputs.items():
        suffix = topic.removeprefix(f"{input_topic}.")
        for record in records:
            found.setdefault(output_coordinates(record, input_topic), []).append(("output", suffix))
    for letter in delivery.dead_letters:
        stage = (header(letter, h.DLQ_STAGE) or b"").decode()
        error_class = (header(letter, h.DLQ_CLASS) or b"").decode()
        found.setdefault(dead_letter_coordinates(letter, input_topic), []).append(
            (stage, error_class)
        )
    return found


def misplaced(
    sent: dict[Coordinates, Sent], landed: dict[Coordinates | None, list[Outcome]]
) -> list[str]:
    """Records not found exactly once, where their case says."""
    wrong = [
        f"{s.case.kind} at {where}: expected {s.case.expected}, found {landed.get(where, [])}"
        for where, s in sorted(sent.items())
        if landed.get(where, []) != [s.case.expected]
    ]
    wrong += [f"records from unknown coordinates {where}: {found}"
              for where, found in landed.items() if where not in sent]  # fmt: skip
    return wrong


def altered(sent: dict[Coordinates, Sent], delivery: Delivery, input_topic: str) -> list[str]:
    """Dead letters that do not keep their original record (or a marked prefix of it)."""
    wrong: list[str] = []
    for letter in delivery.dead_letters:
        where = dead_letter_coordinates(letter, input_topic)
        if where is None or where not in sent:
            continue  # reported by misplaced() and by the audit
        case = sent[where].case
        what = f"{case.kind} at {where}"
        if header(letter, h.DLQ_CUT) is not None:
            if not (case.value or b"").startswith(letter.value or b""):
                wrong.append(f"{what}: cut, but its value is not a prefix of the original")
            continue
        kept = [(name, value) for name, value in case.headers if name not in h.DLQ_HEADERS]
        if letter.key != case.key:
            wrong.append(f"{what}: key {_short(letter.key)} instead of {_short(case.key)}")
        if letter.value != case.value:
            wrong.append(f"{what}: value {_short(letter.value)} instead of {_short(case.value)}")
        if list(letter.headers[: len(kept)]) != kept:
            wrong.append(f"{what}: original headers not kept first and unchanged: "
                         f"{list(letter.headers[:5])}...")  # fmt: skip
    return wrong


def _short(data: bytes | None) -> str:
    if data is None or len(data) <= 40:
        return repr(data)
    return f"{data[:20]!r}...({len(data)} bytes)"


async def test_foreign_records_land_where_their_content_says_and_never_stop_the_processor(
    bootstrap_servers: str, unique_name: str, campaign: list[ScenarioResult]
) -> None:
    config = settings_for(bootstrap_servers, unique_name, dlq_max_ratio=1.0)
    await create_topics(config)
    shipments = corpus()
    sent = ship(bootstrap_servers, config.input_topic, shipments)
    assert len(sent) == sum(len(s.cases) for s in shipments), "a record was not acknowledged"
    assert await stored_otherwise_than_sent(bootstrap_servers, config.input_topic, sent) == []
    began = time.monotonic()

    async with running(config) as (processor, task):
        drained = await committed_before_it_stops(config, task, COMMIT_TIMEOUT_S)
        assert not task.done(), f"the processor stopped on its own: it {how_it_ended(task)}"
        progress = (
            f"committed {processor.committer.committed}, "
            f"{processor.emitter.pending} writes pending, "
            f"dead-lettered {dict(processor.stats.dead_lettered)}"
        )
    report = await audit_run(config)
    elapsed_s = time.monotonic() - began
    # It never exited (asserted above); it ran throughout if it also never stalled.
    campaign.append(ScenarioResult("9. foreign producers (confluent-kafka)", report, elapsed_s,
                                   True, kept_running=drained))  # fmt: skip
    assert drained, f"not every input offset committed within {COMMIT_TIMEOUT_S:.0f} s; {progress}"
    delivery = await collect(config)

    assert report.inputs == len(sent)
    assert report.lost == []
    assert report.in_both == []
    assert report.incomplete_dead_letters == []
    assert report.duplicates == 0
    assert report.order_violations == []
    assert misplaced(sent, landings(delivery, config.input_topic)) == []
    assert altered(sent, delivery, config.input_topic) == []
    assert unsafe_renderings(delivery.dead_letters) == []


def unsafe_renderings(records: list[Any]) -> list[str]:
    """What ``processor dlq list|show|stats`` print for these dead letters that a terminal would
    act on, or that is not valid JSON with ``--json`` (rendering raises on failure)."""
    letters = [DeadLetter.from_record(record) for record in records]
    texts = [listed(letters, False), counted(letters, "1h", False)]
    texts += [whole(letter, False) for letter in letters]
    found = [f"{text[:60]!r}..." for text in texts if UNSAFE.search(text.replace("\n", ""))]
    documents = [*listed(letters, True).splitlines(), counted(letters, "1h", True)]
    documents += [whole(letter, True) for letter in letters]
    for document in documents:
        json.loads(document)
    return found
