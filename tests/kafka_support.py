"""Helpers for tests against the real broker: topics, producing, reading everything back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from processor.commands.scan import committed_offsets, scan
from processor.commands.topics import wait_for_leaders
from processor.config import Settings, load_settings
from processor.engine.processor import Processor
from processor.logs import configure_logging
from processor.metadata import refresh_metadata
from processor.pipeline import PipelineLike
from processor.pipelines.transactions import pipeline as transactions
from processor.telemetry.observability import Observability
from processor.topology import topic_names

TEST_ID = "test-id"

configure_logging("warning")


@dataclass(frozen=True)
class Sample:
    """One input record and what should become of it."""

    test_id: str
    key: bytes | None
    value: bytes | None
    valid: bool
    op: str | None = None
    headers: tuple[tuple[str, bytes], ...] = field(default=())


def settings_for(bootstrap: str, name: str, **overrides: Any) -> Settings:
    """Settings for one test: its own topics and group, quick commits."""
    values: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "input_topic": name,
        "group_id": f"{name}-group",
        "commit_interval_ms": 200,
        "log_level": "warning",
        "http_port": 0,  # several processors share this machine
    }
    values.update(overrides)
    return load_settings(**values)


async def create_topics(
    settings: Settings,
    partitions: int = 4,
    pipeline: PipelineLike = transactions,
    replicas: int = 1,
) -> None:
    """Create the input, output and dead-letter topics of ``pipeline`` under ``settings``."""
    names = topic_names(settings, pipeline)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, replicas) for name in names])
        await wait_for_leaders(admin, names, partitions)
    finally:
        await admin.close()


def valid_value(test_id: str, account: str, op: str) -> bytes:
    body = {
        "id": test_id,
        "account": account,
        "op": op,
        "amount": "12.50",
        "currency": "EUR",
        "quantity": 2,
        "ts": "2026-11-22T10:00:00+00:00",
    }
    return json.dumps(body).encode()


def _invalid_values(test_id: str) -> list[bytes | None]:
    good = json.loads(valid_value(test_id, "acct", "add"))

    def variant(**changes: Any) -> bytes:
        body = {**good, **changes}
        return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()

    return [
        b"not json at all",
        b"\xff\xfe\x00garbage",
        None,
        b"[1, 2, 3]",
        b'"a string"',
        b'{"id": "truncated',
        variant(amount="12.345"),
        variant(amount=-5),
        variant(amount=0),
        variant(amount=True),
        variant(currency="eur"),
        variant(quantity=0),
        variant(quantity="2"),
        variant(id=""),
        variant(op="steal"),
        variant(ts="2026-11-22T10:00:00"),
        variant(account=...),
        variant(amount="NaN"),
        variant(amount=1e400),
    ]


def mixed_samples(count: int, invalid_every: int = 10, accounts: int = 50) -> list[Sample]:
    """``count`` samples, every ``invalid_every``-th one broken in a different way."""
    rng = random.Random(count)
    samples = []
    for index in range(count):
        test_id = f"ev-{index}"
        account = f"acct-{rng.randrange(accounts)}"
        headers = ((TEST_ID, test_id.encode()), ("origin", b"\x00\x01raw"))
        if index % invalid_every == invalid_every - 1:
            variants = _invalid_values(test_id)
            value = variants[(index // invalid_every) % len(variants)]
            samples.append(Sample(test_id, account.encode(), value, False, headers=headers))
        else:
            op = rng.choice(["add", "refund"])
            value = valid_value(test_id, account, op)
            samples.append(Sample(test_id, account.encode(), value, True, op, headers))
    return samples


async def produce(bootstrap: str, topic: str, samples: Iterable[Sample]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        pending = [
            await producer.send(topic, s.value, key=s.key, headers=list(s.headers)) for s in samples
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` from the beginning to its current end, without a group."""
    return [record async for record in scan(load_settings(bootstrap_servers=bootstrap), topic)]


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await refresh_metadata(consumer)  # a topic just created may have gained partitions
    found: set[int] = consumer.partitions_for_topic(topic) or set()
    return found


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    settings = load_settings(bootstrap_servers=bootstrap, group_id=group)
    try:
        return await committed_offsets(settings, topic)
    except KafkaError:
        return {}  # e.g. no coordinator yet for a group that has not committed


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = await _partitions(consumer, topic)
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout_s: float, interval_s: float = 0.2
) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(interval_s)
    return await check()


async def all_committed(settings: Settings, timeout_s: float = 60) -> bool:
    """Wait until the group has committed the end of every input partition."""
    bootstrap, topic = settings.bootstrap_servers, settings.input_topic

    async def done() -> bool:
        ends = {p: end for p, end in (await end_offsets(bootstrap, topic)).items() if end}
        return await committed(bootstrap, settings.group_id, topic) == ends

    return await wait_until(done, timeout_s)


def header(record: Any, name: str) -> bytes | None:
    for key, value in record.headers:
        if key == name:
            return bytes(value)
    return None


@dataclass
class Delivery:
    """Where every input id ended up."""

    outputs: dict[str, list[Any]] = field(default_factory=dict)  # topic -> records
    dead_letters: list[Any] = field(default_factory=list)

    def ids(self) -> list[str]:
        found = [
            (header(r, "event-id") or b"").decode() for rs in self.outputs.values() for r in rs
        ]
        found += [(header(r, TEST_ID) or b"").decode() for r in self.dead_letters]
        return found


async def collect(settings: Settings) -> Delivery:
    bootstrap = settings.bootstrap_servers
    delivery = Delivery()
    for topic in transactions.output_topics(settings.input_topic):
        delivery.outputs[topic] = await read_all(bootstrap, topic)
    delivery.dead_letters = await read_all(bootstrap, settings.dead_letter_topic)
    return delivery


@contextlib.asynccontextmanager
async def running_observed(
    settings: Settings, pipeline: PipelineLike = transactions
) -> AsyncIterator[tuple[Processor, asyncio.Task[int], Observability]]:
    """Run a processor and its telemetry in this event loop, as ``processor run`` does; on exit,
    stop it cleanly and check it exited 0."""
    processor = Processor(settings, pipeline)
    observability = Observability(processor, settings)
    await observability.start()
    task = asyncio.get_running_loop().create_task(processor.run())
    try:
        yield processor, task, observability
    finally:
        processor.stop()
        try:
            code = await asyncio.wait_for(task, settings.shutdown_timeout_s + 30)
        finally:
            await observability.stop()
        assert code == 0, f"processor exited {code}"


@contextlib.asynccontextmanager
async def running(
    settings: Settings, pipeline: PipelineLike = transactions
) -> AsyncIterator[tuple[Processor, asyncio.Task[int]]]:
    """``running_observed`` for tests that do not look at the telemetry."""
    async with running_observed(settings, pipeline) as (processor, task, _):
        yield processor, task
