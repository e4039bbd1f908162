"""End-to-end latency at a fixed offered load.

A load generator sends ledger records at ``rate`` per second (in 10 ms ticks, batched per
partition). Every topic of the run is created with ``message.timestamp.type=LogAppendTime``, so
the broker stamps each record when it appends it: an input record when it is in Kafka (the
generator learns the stamp from its acknowledgement), an output record when the broker
acknowledges the contender's write. Latency of a record = its output's stamp - its input's stamp
(one broker, one clock). Outputs written in transactions are stamped when the reader, which reads
committed records only, receives them: they count once their transaction commits (that stamp
includes the reader's own delay, a few milliseconds). A consumer without a group reads the outputs
to match them to their inputs. Neither how late the generator's client sends (it shares the
cores: at tens of thousands of records a second its own queue would otherwise count) nor, but
for transactions, how soon the reader reads changes the result, so the measuring side cannot
inflate it. Only valid records count (dead
letters carry the id only inside possibly broken JSON). Records still missing after a grace
period mean the contender could not keep up: the result is marked saturated.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.contenders import Contender
from bench.data import InputRecord, partition_for, records
from bench.drain import RunPlan, contender_argv
from bench.kafka import create_topics, delete_topics, run_topics
from bench.measure import Child

TICK_S = 0.01
WARMUP_RECORDS = 200
GRACE_S = 10.0
SATURATED_BELOW = 0.999  # of the valid records sent (a pipe may hold one line back)
_ID = re.compile(rb'"id":\s*"([a-z]+)-(\d+)"')


@dataclass(slots=True)
class LatencyResult:
    contender: str
    rate: float
    sent: int = 0
    received: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    saturated: bool = False
    status: str = "ok"
    note: str = ""


@dataclass(slots=True)
class Stamps:
    """Input and output append times by record id; a latency once both are known (either may
    arrive first: an input's acknowledgement can reach the generator after its output was read)."""

    inputs: dict[int, int] = field(default_factory=dict)
    early_outputs: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    valid_sent: int = 0

    def input_appended(self, seq: int, at_ms: int) -> None:
        output_ms = self.early_outputs.pop(seq, None)
        if output_ms is None:
            self.inputs[seq] = at_ms
        else:
            self.latencies.append(output_ms - at_ms)

    def output_appended(self, seq: int, at_ms: int) -> None:
        input_ms = self.inputs.pop(seq, None)
        if input_ms is None:
            self.early_outputs[seq] = at_ms
        else:
            self.latencies.append(at_ms - input_ms)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def measure_latency(
    contender: Contender, plan: RunPlan, rate: float, seconds: float, record_bytes: int
) -> LatencyResult:
    name = f"bench-lat-{contender.name}-{uuid.uuid4().hex[:8]}"
    topics = run_topics(name)
    result = LatencyResult(contender.name, rate)
    stamped = {topic: {"message.timestamp.type": "LogAppendTime"} for topic in topics}
    await create_topics(plan.bootstrap, topics, plan.partitions, stamped, plan.replicas)
    total = WARMUP_RECORDS + int(rate * seconds)
    argv = contender_argv(contender, plan.bootstrap, name, f"{name}-group", total)
    child = Child(argv, plan.work_dir / f"{name}.log", dict(contender.env))
    stamps = Stamps()
    warm_seen = [0]
    reader = asyncio.create_task(
        _read_outputs(plan, topics[1:], stamps, warm_seen, contender.transactional)
    )
    try:
        producer = AIOKafkaProducer(bootstrap_servers=plan.bootstrap, acks="all", linger_ms=0)
        await producer.start()
        try:
            warm = list(records(WARMUP_RECORDS, size=record_bytes, invalid_ratio=0, prefix="warm"))
            await _send(producer, name, plan.partitions, warm, None)
            # kcat's pipe can hold a last line back until more input comes: 99% is "joined".
            if not await _until(lambda: warm_seen[0] >= WARMUP_RECORDS * 0.99, 90, child):
                result.status, result.note = (
                    "failed",
                    f"{warm_seen[0]}/{WARMUP_RECORDS} warm-up records out, exit"
                    f" {child.popen.returncode}: {child.log_tail()}",
                )
                return result
            result.sent = await _paced(producer, name, plan.partitions, rate, seconds,
                                       record_bytes, stamps)  # fmt: skip
        finally:
            await producer.stop()
        valid, latencies = stamps.valid_sent, stamps.latencies
        grace_s = max(2.0, min(GRACE_S, seconds))
        await _until(lambda: len(latencies) >= valid * SATURATED_BELOW, grace_s, child)
        result.received = len(latencies)
        result.saturated = result.received < valid * SATURATED_BELOW
        result.p50_ms = percentile(latencies, 0.50)
        result.p99_ms = percentile(latencies, 0.99)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await child.finish(grace_s=5)
        await delete_topics(plan.bootstrap, topics)
    return result


async def _until(check: object, timeout_s: float, child: Child) -> bool:
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and child.running:
        if check():
            return True
        await asyncio.sleep(0.05)
    return bool(check())


async def _send(
    producer: AIOKafkaProducer,
    topic: str,
    partitions: int,
    batch: list[InputRecord],
    stamps: Stamps | None,
) -> None:
    """Send ``batch``; with ``stamps``, note each valid record's append time when acknowledged."""
    by_partition: dict[int, tuple[Any, list[int]]] = {}

    async def flush(p: int) -> None:
        b, seqs = by_partition.pop(p)
        ack = await producer.send_batch(b, topic, partition=p)
        if stamps is not None and seqs:
            ack.add_done_callback(lambda done: _appended(done, seqs, stamps))

    for record in batch:
        p = partition_for(record.key, partitions)
        if p not in by_partition:
            by_partition[p] = (producer.create_batch(), [])
        if by_partition[p][0].append(key=record.key, value=record.value, timestamp=None) is None:
            await flush(p)
            by_partition[p] = (producer.create_batch(), [])
            by_partition[p][0].append(key=record.key, value=record.value, timestamp=None)
        match = _ID.search(record.value) if record.valid and stamps is not None else None
        if match:
            by_partition[p][1].append(int(match.group(2)))
            stamps.valid_sent += 1  # type: ignore[union-attr]
    for p in list(by_partition):
        await flush(p)


def _appended(done: asyncio.Future[Any], seqs: list[int], stamps: Stamps) -> None:
    if done.cancelled() or done.exception() is not None:
        return  # never appended: its records count as missing
    at_ms = done.result().timestamp
    for seq in seqs:
        stamps.input_appended(seq, at_ms)


async def _paced(
    producer: AIOKafkaProducer, topic: str, partitions: int, rate: float, seconds: float,
    record_bytes: int, stamps: Stamps,
) -> int:  # fmt: skip
    # Made before the clock starts: building the JSON would take the cores the run measures.
    source = iter(list(records(int(rate * seconds) + 1, size=record_bytes, prefix="lat")))
    started = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(rate * elapsed) - sent
        batch = [record for _, record in zip(range(due), source, strict=False)]
        if batch:
            await _send(producer, topic, partitions, batch, stamps)
            sent += len(batch)
        await asyncio.sleep(TICK_S)
    return sent


async def _read_outputs(
    plan: RunPlan,
    outputs: list[str],
    stamps: Stamps,
    warm_seen: list[int],
    transactional: bool,
) -> None:
    # read_committed: an exactly-once contender's output counts once its transaction commits.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=plan.bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in outputs for p in range(plan.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            seen_ms = int(time.time() * 1000)
            for messages in batches.values():
                for message in messages:
                    match = _ID.search(message.value or b"")
                    if match is None:
                        continue
                    if match.group(1) == b"warm":
                        warm_seen[0] += 1
                    else:  # appended; or, written in a transaction, committed (seen here)
                        seen = seen_ms if transactional else message.timestamp
                        stamps.output_appended(int(match.group(2)), seen)
    finally:
        await consumer.stop()
