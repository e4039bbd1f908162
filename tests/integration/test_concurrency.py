"""Key-level concurrency against the real broker: many records in flight, each key in input order,
and no duplicates at a clean rebalance or a stop, however unevenly records finish."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.kafka_support import (
    all_committed,
    collect,
    create_topics,
    header,
    mixed_samples,
    produce,
    running,
    settings_for,
)
from tests.pipelines import UnevenPipeline


async def test_many_keys_run_concurrently_and_each_key_keeps_its_input_order(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, concurrency=300)
    await create_topics(settings)
    samples = mixed_samples(6_000, accounts=2_000)
    await produce(bootstrap_servers, settings.input_topic, samples)
    pipeline = UnevenPipeline(most_s=0.02)

    async with running(settings, pipeline):
        assert await all_committed(settings, timeout_s=120)

    assert pipeline.peak > 100  # truly concurrent, far beyond one record per key at a time
    delivery = await collect(settings)
    assert sorted(delivery.ids()) == sorted(s.test_id for s in samples)
    position = {s.test_id: index for index, s in enumerate(samples)}
    for records in delivery.outputs.values():  # additions and refunds: each in key order
        by_key: dict[bytes, list[int]] = {}
        for record in records:
            event_id = header(record, "event-id") or b""
            by_key.setdefault(record.key, []).append(position[event_id.decode()])
        disordered = [key for key, places in by_key.items() if places != sorted(places)]
        assert disordered == []


async def test_a_clean_rebalance_and_a_stop_redo_nothing_however_records_finish(
    bootstrap_servers: str, unique_name: str
) -> None:
    # Slow enough that both rebalances (a member joining, then leaving) find records in flight
    # and queued, with holes above the first unfinished offset of every partition.
    settings = settings_for(
        bootstrap_servers, unique_name, concurrency=100, queue_max_records=1_000
    )
    await create_topics(settings)
    samples = mixed_samples(20_000, accounts=5_000)
    await produce(bootstrap_servers, settings.input_topic, samples)

    async with running(settings, UnevenPipeline(most_s=0.05, seed=1)) as (first, _):
        await _until(lambda: first.stats.consumed > 1_500)
        async with running(settings, UnevenPipeline(most_s=0.05, seed=2)) as (second, _):
            # Joining takes a rebalance, slower on a loaded machine.
            await _until(lambda: second.stats.consumed > 500, timeout_s=180)
            in_flight_at_leave = second.flow.records
        await _until(lambda: first.stats.rebalances >= 3)  # it took the partitions back
        assert await all_committed(settings, timeout_s=120)

    assert in_flight_at_leave > 0
    # Queued records above the highest started one were let go at once, not waited for.
    assert first.stats.released_on_revoke + second.stats.released_on_revoke > 0
    found = Counter((await collect(settings)).ids())
    assert set(found) == {s.test_id for s in samples}
    assert [test_id for test_id, count in found.items() if count > 1] == []


async def _until(condition: object, timeout_s: float = 60) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)
