"""RecordHandler: every record becomes exactly one outcome, whatever the pipeline does.

The pipeline is a stranger's code. Whatever its validators or ``route`` raise, return or fail to
return in time, and whatever the broker refuses, becomes the record's dead letter (stage and class
in its headers) and never the processor's crash. Runs against a fake emitter: no broker.
"""

from __future__ import annotations

import asyncio
import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import pytest
from pydantic import BaseModel, field_validator

from processor import headers as h
from processor.engine.deadletter import Cause
from processor.engine.emit import Backoff, Emitter, Entry, Refusal
from processor.engine.executors import RouteRunner
from processor.engine.guard import DeadLetterGuard
from processor.engine.handle import RecordHandler
from processor.engine.inflight import InFlight, take_in
from processor.engine.offsets import OffsetTracker
from processor.engine.recordsize import record_bytes
from processor.engine.stats import Stats
from processor.pipeline import Drop, Headers, Output, Reject, Source
from tests.records import FakeRecord

INPUT = "payments"
PARTITION = 2
OFFSET = 7
TIMESTAMP_MS = 1_715_938_215_000
DLQ = "payments-dlq"
OUT = "payments-ok"
REVIEW = "payments-review"
GROUP = "billing"
COORDINATES = f"{INPUT}/{PARTITION}/{OFFSET}".encode()
VALID = b'{"account": "acct-1", "amount": 5}'
KEY = b"acct-1"
ORIGINAL_HEADERS: Headers = (("trace-id", b"t-1"), ("empty", None))
FAST = Backoff(0.001, 0.001)


class Payment(BaseModel):
    account: str
    amount: int


class Unprintable(Exception):
    """A user's exception whose ``__str__`` fails too."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ failed as well")


class Hostile(BaseModel):
    """A model whose validator raises what pydantic does not wrap in a ValidationError."""

    trigger: str

    @field_validator("trigger")
    @classmethod
    def pull(cls, value: str) -> str:
        if value == "type":
            raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")
        if value == "key":
            raise KeyError  # no message at all
        if value == "decimal":
            decimal.Decimal(value)  # InvalidOperation: not a number
        if value == "unprintable":
            raise Unprintable
        return value


class Submitted(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    token: InFlight
    timestamp_ms: int | None

    def entry(self) -> Entry[InFlight]:
        return Entry(self.key, self.value, self.headers, self.timestamp_ms, self.token)

    def header(self, name: str) -> bytes | None:
        """The value of the one header called ``name``."""
        found = [value for key, value in self.headers if key == name]
        assert len(found) == 1, f"{name} appears {len(found)} times in {self.headers}"
        return found[0]

    def names(self) -> list[str]:
        return [name for name, _ in self.headers]

    @property
    def stage(self) -> bytes | None:
        return self.header(h.DLQ_STAGE)

    @property
    def error_class(self) -> bytes | None:
        return self.header(h.DLQ_CLASS)

    @property
    def message(self) -> bytes | None:
        return self.header(h.DLQ_MESSAGE)

    @property
    def size(self) -> int:
        return record_bytes(self.key, self.value, self.headers)


class FakeEmitter:
    """Records what the handler submits; sends nothing."""

    def __init__(self, max_record_bytes: int) -> None:
        self.max_record_bytes = max_record_bytes
        self.submitted: list[Submitted] = []

    def submit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        token: InFlight,
        timestamp_ms: int | None = None,
    ) -> None:
        self.submitted.append(Submitted(topic, key, value, headers, token, timestamp_ms))

    def to(self, topic: str) -> list[Submitted]:
        return [sent for sent in self.submitted if sent.topic == topic]


Route = Callable[[Any, Source], Any]


class FakePipeline:
    def __init__(self, route: Route, model: type[BaseModel] = Payment) -> None:
        self.model = model
        self._route = route
        self.calls = 0

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return [OUT, REVIEW]

    def route(self, record: Any, source: Source) -> Any:
        self.calls += 1
        return self._route(record, source)


@dataclass
class Rig:
    handler: RecordHandler
    emitter: FakeEmitter
    pipeline: FakePipeline
    stats: Stats
    guard: DeadLetterGuard
    finished: list[InFlight] = field(default_factory=list)
    halts: list[str] = field(default_factory=list)

    async def handle(self, item: InFlight) -> None:
        pending = self.handler.handle(item)
        if pending is not None:
            async with asyncio.timeout(5):
                await pending

    @property
    def dead_letters(self) -> list[Submitted]:
        return self.emitter.to(DLQ)

    def only_dead_letter(self) -> Submitted:
        assert [sent.topic for sent in self.emitter.submitted] == [DLQ]
        return self.emitter.submitted[0]


def to_out(record: Any, source: Source) -> Output:
    return Output(OUT, b"routed", KEY, (("pipeline", b"1"),), "evt-1")


def make_rig(
    route: Route = to_out,
    *,
    model: type[BaseModel] = Payment,
    max_attempts: int = 3,
    route_timeout_s: float = 1.0,
    guard: DeadLetterGuard | None = None,
    max_record_bytes: int = 1_000_000,
) -> Rig:
    emitter = FakeEmitter(max_record_bytes)
    pipeline = FakePipeline(route, model)
    stats = Stats()
    guard = guard or DeadLetterGuard(window=1000, max_ratio=1.0)
    finished: list[InFlight] = []
    halts: list[str] = []
    handler = RecordHandler(
        model=pipeline.model,
        runner=RouteRunner(pipeline, route_timeout_s),
        emitter=cast(Emitter[InFlight], emitter),
        guard=guard,
        stats=stats,
        dlq_topic=DLQ,
        output_topics=pipeline.output_topics(INPUT),
        group_id=GROUP,
        max_attempts=max_attempts,
        backoff=FAST,
        finish=finished.append,
        halt=halts.append,
    )
    return Rig(handler, emitter, pipeline, stats, guard, finished, halts)


def make_item(
    value: bytes | None = VALID,
    *,
    key: bytes | None = KEY,
    headers: Headers = ORIGINAL_HEADERS,
    offset: int = OFFSET,
    tracker: OffsetTracker | None = None,
) -> InFlight:
    record = FakeRecord(INPUT, PARTITION, offset, key, value, list(headers), TIMESTAMP_MS)
    items, _ = take_in([record], tracker or OffsetTracker())
    return items[0]


def raise_always(error: Exception) -> Route:
    def route(record: Any, source: Source) -> Any:
        raise error

    return route


# --- records that are fine --------------------------------------------------------------------


async def test_a_valid_record_goes_to_its_topic_with_event_id_and_source_after_its_headers() -> (
    None
):
    rig = make_rig()
    item = make_item()
    await rig.handle(item)
    assert rig.emitter.submitted == [
        Submitted(
            OUT,
            KEY,
            b"routed",
            (("pipeline", b"1"), (h.EVENT_ID, b"evt-1"), (h.SOURCE, COORDINATES)),
            item,
            None,
        )
    ]
    assert rig.finished == []  # done only once the broker acknowledges it


async def test_an_output_without_event_id_gets_only_the_source_header() -> None:
    rig = make_rig(lambda record, source: Output(REVIEW, b"v"))
    await rig.handle(make_item())
    [sent] = rig.emitter.submitted
    assert (sent.topic, sent.key, sent.headers) == (REVIEW, None, ((h.SOURCE, COORDINATES),))


async def test_route_receives_the_validated_model_and_the_source_coordinates() -> None:
    seen: list[tuple[Any, Source]] = []

    def route(record: Any, source: Source) -> Output:
        seen.append((record, source))
        return Output(OUT, b"v")

    rig = make_rig(route)
    await rig.handle(make_item())
    [(record, source)] = seen
    assert record == Payment(account="acct-1", amount=5)
    assert source == Source(INPUT, PARTITION, OFFSET, KEY, ORIGINAL_HEADERS, TIMESTAMP_MS)


# --- decode and validate ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error_class"),
    [
        (b'{"account": "acct-1", "amount": ', "JSONDecodeError"),
        (b"\xff\xfe\x00not utf-8", "UnicodeDecodeError"),
        (None, "NullValue"),
    ],
    ids=["invalid-json", "not-utf8", "null"],
)
async def test_bytes_that_are_not_a_json_record_become_a_decode_dead_letter(
    value: bytes | None, error_class: str
) -> None:
    rig = make_rig()
    item = make_item(value)
    await rig.handle(item)
    letter = rig.only_dead_letter()
    assert (letter.stage, letter.error_class) == (b"decode", error_class.encode())
    assert rig.pipeline.calls == 0
    assert rig.stats.dead_lettered == {("decode", error_class): 1}


async def test_a_dead_letter_keeps_the_original_record_byte_for_byte() -> None:
    rig = make_rig()
    item = make_item(b"not json")
    await rig.handle(item)
    letter = rig.only_dead_letter()
    assert (letter.key, letter.value, letter.timestamp_ms) == (KEY, b"not json", TIMESTAMP_MS)
    assert letter.headers[: len(ORIGINAL_HEADERS)] == ORIGINAL_HEADERS
    assert letter.token is item
    assert letter.header(h.DLQ_SOURCE_TOPIC) == INPUT.encode()
    assert letter.header(h.DLQ_SOURCE_PARTITION) == str(PARTITION).encode()
    assert letter.header(h.DLQ_SOURCE_OFFSET) == str(OFFSET).encode()
    assert letter.header(h.DLQ_GROUP) == GROUP.encode()
    assert h.DLQ_CUT not in letter.names()


async def test_json_that_breaks_the_schema_becomes_a_validate_dead_letter() -> None:
    rig = make_rig()
    await rig.handle(make_item(b'{"account": "acct-1", "amount": "five"}'))
    letter = rig.only_dead_letter()
    assert (letter.stage, letter.error_class) == (b"validate", b"ValidationError")
    assert b"amount" in (letter.message or b"")
    assert letter.header(h.DLQ_DETAIL)  # pydantic's error list
    assert rig.pipeline.calls == 0


@pytest.mark.parametrize(
    ("trigger", "error_class"),
    [
        ("type", "TypeError"),
        ("key", "KeyError"),
        ("decimal", "InvalidOperation"),
        ("unprintable", "Unprintable"),
    ],
)
async def test_a_validator_raising_any_exception_becomes_a_validate_dead_letter_named_for_its_type(
    trigger: str, error_class: str
) -> None:
    rig = make_rig(model=Hostile)
    await rig.handle(make_item(f'{{"trigger": "{trigger}"}}'.encode()))
    letter = rig.only_dead_letter()
    assert (letter.stage, letter.error_class) == (b"validate", error_class.encode())
    assert letter.message  # never empty, even when the exception has no text or no __str__
    assert rig.pipeline.calls == 0


# --- route raises, hangs or keeps failing ------------------------------------------------------


async def test_a_route_that_keeps_raising_is_retried_then_becomes_a_handler_dead_letter() -> None:
    rig = make_rig(raise_always(ConnectionResetError("sink went away")), max_attempts=3)
    await rig.handle(make_item())
    letter = rig.only_dead_letter()
    assert (letter.stage, letter.error_class) == (b"handler", b"ConnectionResetError")
    assert letter.message == b"sink went away"
    assert letter.header(h.DLQ_ATTEMPTS) == b"3"
    assert rig.pipeline.calls == 3
    assert rig.stats.handler_retries == 2


async def test_a_route_that_succeeds_on_its_second_attempt_gives_the_output() -> None:
    def flaky(record: Any, source: Source) -> Output:
        if rig.pipeline.calls == 1:
            raise TimeoutError
        return Output(OUT, b"second time")

    rig = make_rig(flaky)
    await rig.handle(make_item())
    [sent] = rig.emitter.submitted
    assert (sent.topic, sent.value) == (OUT, b"second time")
    assert rig.pipeline.calls == 2


async def test_an_async_route_that_never_returns_becomes_a_handler_timeout_dead_letter() -> None:
    async def hang(record: Any, source: Source) -> Output:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    rig = make_rig(hang, max_attempts=2, route_timeout_s=0.05)
    await rig.handle(make_item())
    letter = rig.only_dead_letter()
    assert (letter.stage, letter.error_class) == (b"handler", b"Timeout")
    assert letter.header(h.DLQ_ATTEMPTS) == b"2"
    assert rig.pipeline.calls == 2


async def test_an_async_route_that_raises_is_retried() -> None:
    async def flaky(record: Any, source: Source) -> Output:
        await asyncio.sleep(0)
        if rig.pipeline.calls < 3:
            raise KeyError("cache miss")
        return Output(OUT, b"third time")

    rig = make_rig(flaky, max_attempts=3)
    await rig.handle(make_item())
    [sent] = rig.emitter.submitted
    assert (sent.topic, sent.value) == (OUT, b"third time")
    assert rig.pipeline.calls == 3


async def test_an_async_route_that_keeps_raising_becomes_a_handler_dead_letter() -> None:
    async def failing(record: Any, source: Source) -> Output:
        raise LookupError

    rig = make_rig(failing, max_attempts=2)
    await rig.handle(make_item())
    letter = rig.only_dead_letter()
    assert (letter.stage, letter.error_class) == (b"handler", b"LookupError")
    assert letter.message == b"LookupError with no message"
    assert letter.header(h.DLQ_ATTEMPTS) == b"2"


# --- route returns nonsense -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "named"),
    [
        (Output(OUT, cast(bytes, 42)), "Output.value"),
        (Output(OUT, b"v", cast(bytes, 4.2)), "Output.key"),
        (Output(OUT, b"v", None, cast(Headers, [("h", b"1")])), "Output.headers must be a tuple"),
        (Output(OUT, b"v", None, cast(Headers, (("h", "1"),))), "Output.headers[0] value"),
        (Output(OUT, b"v", None, cast(Headers, ((b"h", b"1"),))), "Output.headers[0] name"),
        (Output(OUT, b"v", None, cast(Headers, (("h",),))), "Output.headers[0] must be"),
        (Output(OUT, b"v", None, (), cast(str, 42)), "Output.event_id"),
        (Output(OUT, b"v", None, (), "evt-\ud800"), "Output.event_id cannot be encoded"),
        (Output(OUT, b"v", None, (("trace-\udcff", b"1"),)), "Output.headers[0] name cannot"),
    ],
    ids=[
        "int-value",
        "float-key",
        "list-headers",
        "str-header-value",
        "bytes-header-name",
        "not-a-pair",
        "int-event-id",
        "event-id-not-utf8",
        "header-name-not-utf8",
    ],
)
async def test_an_output_of_the_wrong_shape_becomes_a_route_invalid_output_dead_letter(
    output: Output, named: str
) -> None:
    rig = make_rig(lambda record, source: output)
    await rig.handle(make_item())
    letter = rig.only_dead_letter()
    assert (letter.stage, letter.error_class) == (b"route", b"InvalidOutput")
    assert named.encode() in (letter.message or b"")


async def test_an_output_to_a_topic_not_in_output_topics_becomes_a_no_route_dead_letter() -> None:
    rig = make_rig(lambda record, source: Output("payments-elsewhere", b"v"))
    await rig.handle(make_item())
    letter = rig.only_dead_letter()
    assert (letter.stage, letter.error_class) == (b"route", b"NoRoute")
    assert b"payments-elsewhere" in (letter.message or b"")


@pytest.mark.parametrize(
    "outcome",
    [
        None,
        {"topic": OUT, "value": b"v"},
        (OUT, b"v"),
        Reject(cast(str, 123)),
        Reject("reason", cast(str, None)),
    ],
    ids=["none", "dict", "plain-tuple", "reject-int-reason", "reject-none-class"],
)
async def test_anything_but_an_outcome_becomes_a_route_invalid_outcome_dead_letter(
    outcome: object,
) -> None:
    rig = make_rig(lambda record, source: outcome)
    await rig.handle(make_item())
    letter = rig.only_dead_letter()
    assert (letter.stage, letter.error_class) == (b"route", b"InvalidOutcome")


async def test_a_reject_becomes_a_route_dead_letter_with_its_class_and_reason() -> None:
    rig = make_rig(lambda record, source: Reject("amount below minimum", "BelowMinimum"))
    await rig.handle(make_item())
    letter = rig.only_dead_letter()
    assert (letter.stage, letter.error_class) == (b"route", b"BelowMinimum")
    assert letter.message == b"amount below minimum"


async def test_a_drop_is_counted_and_finished_without_writing_anything() -> None:
    rig = make_rig(lambda record, source: Drop("test account"))
    item = make_item()
    await rig.handle(item)
    assert rig.emitter.submitted == []
    assert rig.finished == [item]
    assert rig.stats.dropped == 1


# --- records that never reach route ------------------------------------------------------------


async def test_a_record_the_client_could_not_decode_becomes_a_dead_letter_with_its_failure() -> (
    None
):
    rig = make_rig()
    item = make_item()  # the value would validate: the failure alone decides
    item.failure = Cause("decode", "InvalidHeaderKey", "header 0 key is not UTF-8")
    await rig.handle(item)
    letter = rig.only_dead_letter()
    assert (letter.stage, letter.error_class) == (b"decode", b"InvalidHeaderKey")
    assert letter.message == b"header 0 key is not UTF-8"
    assert rig.pipeline.calls == 0


async def test_a_record_of_a_revoked_partition_is_finished_without_writing_anything() -> None:
    rig = make_rig()
    tracker = OffsetTracker()
    item = make_item(tracker=tracker)
    tracker.revoked = True
    await rig.handle(item)
    assert rig.emitter.submitted == []
    assert rig.finished == [item]
    assert rig.pipeline.calls == 0


async def test_a_partition_revoked_while_route_is_retried_stops_the_retries() -> None:
    tracker = OffsetTracker()

    def failing(record: Any, source: Source) -> Output:
        tracker.revoked = True
        raise ConnectionError

    rig = make_rig(failing, max_attempts=5)
    item = make_item(tracker=tracker)
    await rig.handle(item)
    assert rig.emitter.submitted == []
    assert rig.finished == [item]
    assert rig.pipeline.calls == 1


async def test_a_record_whose_handling_raised_past_every_check_becomes_a_handler_dead_letter() -> (
    None
):
    rig = make_rig()
    item = make_item()
    rig.handler.contain(item, RuntimeError("a bug in the processor"))
    letter = rig.only_dead_letter()
    assert (letter.stage, letter.error_class) == (b"handler", b"RuntimeError")
    assert letter.message == b"a bug in the processor"
    assert letter.token is item


# --- the flood guard --------------------------------------------------------------------------


async def test_the_dead_letter_that_trips_the_flood_guard_halts_instead_of_being_written() -> None:
    rig = make_rig(guard=DeadLetterGuard(window=4, max_ratio=0.5))  # trips at the third
    for offset in (10, 11):
        await rig.handle(make_item(b"bad", offset=offset))
    assert len(rig.dead_letters) == 2
    assert rig.halts == []
    await rig.handle(make_item(b"bad", offset=12))
    assert len(rig.dead_letters) == 2
    [reason] = rig.halts
    assert f"{INPUT}/{PARTITION}/12" in reason


async def test_once_the_flood_guard_tripped_nothing_more_is_written() -> None:
    rig = make_rig(guard=DeadLetterGuard(window=2, max_ratio=0.5))
    await rig.handle(make_item(b"bad", offset=1))
    await rig.handle(make_item(b"bad", offset=2))
    assert rig.guard.tripped
    submitted = len(rig.emitter.submitted)
    await rig.handle(make_item(offset=3))
    assert len(rig.emitter.submitted) == submitted


# --- the broker refuses a record --------------------------------------------------------------


async def submitted_output(rig: Rig) -> Submitted:
    await rig.handle(make_item())
    [sent] = rig.emitter.submitted
    assert sent.topic == OUT
    return sent


async def test_an_output_refused_for_its_size_becomes_a_route_record_too_large_dead_letter() -> (
    None
):
    rig = make_rig()
    output = await submitted_output(rig)
    rig.handler.refused(OUT, output.entry(), Refusal("RecordTooLarge", "2 MB", too_large=True))
    [letter] = rig.dead_letters
    assert (letter.stage, letter.error_class) == (b"route", b"RecordTooLarge")
    assert (letter.key, letter.value) == (KEY, VALID)  # the original record, not the output
    assert OUT.encode() in (letter.message or b"")


async def test_an_output_refused_for_another_reason_becomes_an_emit_dead_letter_of_that_class() -> (
    None
):
    rig = make_rig()
    output = await submitted_output(rig)
    refusal = Refusal("InvalidTimestampError", "the broker refused the record")
    rig.handler.refused(OUT, output.entry(), refusal)
    [letter] = rig.dead_letters
    assert (letter.stage, letter.error_class) == (b"emit", b"InvalidTimestampError")
    assert letter.timestamp_ms == TIMESTAMP_MS


BIG_HEADERS: Headers = (("trace-id", b"t" * 300),)


async def submitted_dead_letter(rig: Rig, key: bytes | None = KEY) -> Submitted:
    await rig.handle(make_item(b"x" * 4000, key=key, headers=BIG_HEADERS))
    return rig.only_dead_letter()


def source_coordinates(letter: Submitted) -> list[bytes | None]:
    names = (h.DLQ_SOURCE_TOPIC, h.DLQ_SOURCE_PARTITION, h.DLQ_SOURCE_OFFSET)
    return [letter.header(name) for name in names]


async def test_a_dead_letter_refused_for_its_size_is_sent_again_cut_down_with_dlq_cut() -> None:
    rig = make_rig()
    first = await submitted_dead_letter(rig)
    rig.handler.refused(DLQ, first.entry(), Refusal("RecordTooLarge", "too big", too_large=True))
    [_, again] = rig.dead_letters
    assert again.size <= first.size // 2
    assert again.header(h.DLQ_CUT)
    assert source_coordinates(again) == [INPUT.encode(), b"2", b"7"]
    assert (again.stage, again.error_class) == (first.stage, first.error_class)
    assert (first.value or b"").startswith(again.value or b"")
    assert again.token is first.token


@pytest.mark.parametrize("key", [None, KEY], ids=["keyless", "keyed"])
async def test_a_dead_letter_refused_for_another_reason_is_sent_again_with_broker_time(
    key: bytes | None,
) -> None:
    rig = make_rig()
    first = await submitted_dead_letter(rig, key)
    assert first.timestamp_ms == TIMESTAMP_MS
    rig.handler.refused(DLQ, first.entry(), Refusal("InvalidRecord", "null key, compacted"))
    [_, again] = rig.dead_letters
    assert again.timestamp_ms is None
    assert again.key == (COORDINATES if key is None else key)  # a compacted topic needs a key
    assert (again.value, again.headers) == (first.value, first.headers)


async def test_a_dead_letter_refused_again_is_stripped_to_a_minimal_dead_letter() -> None:
    rig = make_rig()
    first = await submitted_dead_letter(rig, None)
    rig.handler.refused(DLQ, first.entry(), Refusal("InvalidRecord", "null key"))
    second = rig.dead_letters[-1]
    rig.handler.refused(DLQ, second.entry(), Refusal("PolicyViolationError", "policy"))
    [_, _, third] = rig.dead_letters
    assert (third.key, third.value) == (b"", b"")
    assert all(name.startswith("dlq.") for name in third.names())  # the original headers went
    assert third.header(h.DLQ_CUT)
    assert source_coordinates(third) == [INPUT.encode(), b"2", b"7"]
    assert (third.stage, third.error_class) == (b"decode", b"JSONDecodeError")


async def test_a_dead_letter_with_nothing_left_to_cut_is_retried_later_and_never_dropped() -> None:
    rig = make_rig()
    first = await submitted_dead_letter(rig)
    rig.handler.refused(DLQ, first.entry(), Refusal("PolicyViolationError", "policy"))
    undated = rig.dead_letters[-1]
    rig.handler.refused(DLQ, undated.entry(), Refusal("PolicyViolationError", "policy"))
    minimal = rig.dead_letters[-1]
    assert (minimal.key, minimal.value, minimal.timestamp_ms) == (b"", b"", None)
    rig.handler.refused(DLQ, minimal.entry(), Refusal("PolicyViolationError", "policy"))
    assert rig.dead_letters[-1] is minimal  # not re-sent at once: that would spin
    async with asyncio.timeout(2):
        while rig.dead_letters[-1] is minimal:
            await asyncio.sleep(0.005)
    assert rig.dead_letters[-1] == minimal  # the same dead letter, sent again later


async def test_a_dead_letter_too_large_for_a_request_is_submitted_already_cut_to_fit() -> None:
    limit = 2_000
    rig = make_rig(max_record_bytes=limit)
    value = b"y" * (limit - 10)  # fits alone; not with the dead-letter headers
    await rig.handle(make_item(value))
    letter = rig.only_dead_letter()
    assert letter.size <= limit
    assert f"value:{len(value)}".encode() in (letter.header(h.DLQ_CUT) or b"")
    assert value.startswith(letter.value or b"")
    assert (letter.stage, letter.error_class) == (b"decode", b"JSONDecodeError")
    assert source_coordinates(letter) == [INPUT.encode(), b"2", b"7"]


# --- cutting a dead letter that was cut before ---------------------------------------------------


async def test_a_dead_letter_cut_twice_still_has_one_dlq_cut_naming_the_original_sizes() -> None:
    limit = 3_000
    rig = make_rig(max_record_bytes=limit)
    value = b"x" * 5_000
    await rig.handle(make_item(value))
    first = rig.only_dead_letter()
    assert first.header(h.DLQ_CUT) == b"value:5000"
    rig.handler.refused(DLQ, first.entry(), Refusal("RecordTooLarge", "too big", too_large=True))
    again = rig.dead_letters[-1]
    assert again.size <= first.size // 2
    assert again.header(h.DLQ_CUT) == b"value:5000"
