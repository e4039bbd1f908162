"""Scenario 6: poison input of every kind; each record ends in an output or a dead letter."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults.campaign import ScenarioResult, audit_run, scale
from tests.kafka_support import all_committed, create_topics, running, settings_for

GOOD = {"id": "p-1", "account": "acct-1", "op": "add", "amount": "1.50", "currency": "EUR",
        "quantity": 1}  # fmt: skip
# A little under the broker's default message.max.bytes (1 MiB + 12 bytes).
NEAR_LIMIT = 1_040_000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


def _encode(document: Any) -> bytes:
    return json.dumps(document).encode()


@st.composite
def broken_transactions(draw: st.DrawFn) -> bytes:
    document: dict[str, Any] = dict(GOOD)
    for name in draw(st.sets(st.sampled_from(sorted(GOOD)), max_size=3)):
        action = draw(st.sampled_from(["drop", "retype", "huge"]))
        if action == "drop":
            del document[name]
        elif action == "retype":
            document[name] = draw(json_values)
        else:
            document[name] = draw(st.sampled_from([10**400, -(10**30), 1e308, "9" * 5000]))
    document.update(draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3)))
    return json.dumps(document, default=str).encode()


values = st.one_of(
    st.binary(max_size=300),
    st.binary(min_size=1, max_size=50).map(lambda b: b"\xff\xfe" + b),  # invalid UTF-8
    st.none(),
    json_values.filter(lambda v: not isinstance(v, dict)).map(_encode),
    broken_transactions(),
    st.just(_encode({**GOOD, "id": "x" * 200_000})),  # a very long string
    st.just(_encode({**GOOD, "id": "n" * NEAR_LIMIT})),  # output would pass the size limit
    st.just(b"\x00" * NEAR_LIMIT),
)
keys = st.none() | st.just(b"") | st.binary(max_size=40)
headers = st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=40)), max_size=4)


SLOW_AND_LARGE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                  HealthCheck.data_too_large, HealthCheck.large_base_example]  # fmt: skip


@settings(max_examples=scale(2, 8), deadline=None, suppress_health_check=SLOW_AND_LARGE)
@given(records=st.lists(st.tuples(keys, values, headers), min_size=20, max_size=scale(60, 300)))
async def test_poison_records_all_land_with_full_headers_and_never_stop_the_processor(
    bootstrap_servers: str, campaign: list[ScenarioResult],
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]],
) -> None:  # fmt: skip
    name = "poison-" + uuid.uuid4().hex[:10]
    config = settings_for(bootstrap_servers, name, dlq_max_ratio=1.0)
    await create_topics(config)
    await _produce(bootstrap_servers, config.input_topic, records)
    began = time.monotonic()

    async with running(config) as (_, task):
        drained = await all_committed(config, timeout_s=120)
        kept_running = not task.done()  # the processor never exits on bad input
    report = await audit_run(config)
    name = f"6. poison input ({len(records)})"
    elapsed_s = time.monotonic() - began
    campaign.append(ScenarioResult(name, report, elapsed_s, True, drained and kept_running))
    assert drained
    assert kept_running
    assert report.inputs == len(records)
    assert report.lost == []
    assert report.in_both == []
    assert report.incomplete_dead_letters == []
    assert report.duplicates == 0
    assert report.order_violations == []


async def _produce(bootstrap: str, topic: str, records: list[Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2 * 1024 * 1024)
    await producer.start()
    try:
        for key, value, extra in records:
            if key is None and value is None:
                value = b""  # Kafka needs a key or a value
            await producer.send_and_wait(topic, value, key=key, headers=extra)
    finally:
        await producer.stop()
