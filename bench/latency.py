"""End-to-end latency at a fixed offered load.

A load generator sends ledger records at ``rate`` per second (in 10 ms ticks, batched per
partition) with the record timestamp set to the send time. The output topics are created with
``message.timestamp.type=LogAppendTime``, so the broker stamps each output record when it appends
it, i.e. when it acknowledges the contender's write. Latency of a record = its output's broker
timestamp - the input record's timestamp (same machine, same clock). A separate consumer,
without a group, reads the outputs to match them to the inputs; how soon it reads them does not
change the result, so the measuring side cannot inflate it. Only valid records count (dead
letters carry the id only inside possibly broken JSON). Records still missing after a grace
period mean the contender could not keep up: the result is marked saturated.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from dataclasses import dataclass

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


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def measure_latency(
    contender: Contender, plan: RunPlan, rate: float, seconds: float, record_bytes: int
) -> LatencyResult:
    name = f"bench-lat-{contender.name}-{uuid.uuid4().hex[:8]}"
    topics = run_topics(name)
    result = LatencyResult(contender.name, rate)
    stamped = {topic: {"message.timestamp.type": "LogAppendTime"} for topic in topics[1:]}
    await create_topics(plan.bootstrap, topics, plan.partitions, stamped)
    total = WARMUP_RECORDS + int(rate * seconds)
    argv = contender_argv(contender, plan.bootstrap, name, f"{name}-group", total)
    child = Child(argv, plan.work_dir / f"{name}.log")
    sent_at: dict[int, int] = {}
    latencies: list[float] = []
    warm_seen = [0]
    reader = asyncio.create_task(_read_outputs(plan, topics[1:], sent_at, latencies, warm_seen))
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
                                       record_bytes, sent_at)  # fmt: skip
        finally:
            await producer.stop()
        valid = sum(1 for seq in sent_at if seq >= 0)
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
    sent_at: dict[int, int] | None,
) -> None:
    now_ms = int(time.time() * 1000)
    if sent_at is not None:
        # Before sending: an output can be read while later batches of this tick still wait.
        for record in batch:
            if record.valid:
                match = _ID.search(record.value)
                if match:
                    sent_at[int(match.group(2))] = now_ms
    by_partition: dict[int, object] = {}
    for record in batch:
        p = partition_for(record.key, partitions)
        b = by_partition.get(p)
        if b is None:
            b = by_partition[p] = producer.create_batch()
        if b.append(key=record.key, value=record.value, timestamp=now_ms) is None:  # type: ignore[attr-defined]
            await producer.send_batch(b, topic, partition=p)
            b = by_partition[p] = producer.create_batch()
            b.append(key=record.key, value=record.value, timestamp=now_ms)
    for p, b in by_partition.items():
        await producer.send_batch(b, topic, partition=p)


async def _paced(
    producer: AIOKafkaProducer, topic: str, partitions: int, rate: float, seconds: float,
    record_bytes: int, sent_at: dict[int, int],
) -> int:  # fmt: skip
    source = records(int(rate * seconds) + 1, size=record_bytes, prefix="lat")
    started = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(rate * elapsed) - sent
        batch = [record for _, record in zip(range(due), source, strict=False)]
        if batch:
            await _send(producer, topic, partitions, batch, sent_at)
            sent += len(batch)
        await asyncio.sleep(TICK_S)
    return sent


async def _read_outputs(
    plan: RunPlan,
    outputs: list[str],
    sent_at: dict[int, int],
    latencies: list[float],
    warm_seen: list[int],
) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=plan.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in outputs for p in range(plan.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            for messages in batches.values():
                for message in messages:
                    match = _ID.search(message.value or b"")
                    if match is None:
                        continue
                    if match.group(1) == b"warm":
                        warm_seen[0] += 1
                    elif (sent := sent_at.get(int(match.group(2)))) is not None:
                        latencies.append(message.timestamp - sent)  # appended at the ack
    finally:
        await consumer.stop()
