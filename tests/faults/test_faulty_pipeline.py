"""Scenario: a buggy user pipeline. Whatever its validators or route do wrong for a record
becomes that record's dead letter, with the stage and class that say what went wrong; the
stream goes on and the processor never stops by itself."""

from __future__ import annotations

import random
import time
from collections import Counter

from processor.commands.audit import audit_topics
from processor.headers import DLQ_ATTEMPTS, DLQ_CLASS, DLQ_STAGE, EVENT_ID
from tests.faults.campaign import ScenarioResult, scale
from tests.faulty import FAULTS, HEALTHY_PREFIX, StubbornPipeline, expected_failure, faulty
from tests.kafka_support import (
    TEST_ID,
    Sample,
    all_committed,
    collect,
    create_topics,
    header,
    produce,
    running,
    settings_for,
    valid_value,
)

# One record in FAULTY_EVERY is faulty, the kinds of fault in turn.
FAULTY_EVERY = 4


def faulty_samples(count: int, accounts: int = 20) -> list[Sample]:
    rng = random.Random(count)
    kinds = list(FAULTS)
    samples = []
    for index in range(count):
        if index % FAULTY_EVERY == 0:
            prefix = kinds[(index // FAULTY_EVERY) % len(kinds)]
        else:
            prefix = HEALTHY_PREFIX
        test_id = f"{prefix}{index}"
        account = f"acct-{rng.randrange(accounts)}"
        op = rng.choice(["add", "refund"])
        value = valid_value(test_id, account, op)
        headers = ((TEST_ID, test_id.encode()),)
        samples.append(Sample(test_id, account.encode(), value, True, op, headers))
    return samples


async def test_a_faulty_pipeline_dead_letters_each_bad_record_with_its_stage_and_class(
    bootstrap_servers: str, unique_name: str, campaign: list[ScenarioResult]
) -> None:
    settings = settings_for(
        bootstrap_servers, unique_name, route_timeout_s=0.2, handler_max_attempts=2,
        retry_backoff_s=0.01, retry_backoff_max_s=0.05, dlq_max_ratio=1.0,
    )  # fmt: skip
    await create_topics(settings)
    samples = faulty_samples(scale(400, 5_000))
    await produce(bootstrap_servers, settings.input_topic, samples)
    expected = {s.test_id: expected_failure(s.test_id) for s in samples}
    began = time.monotonic()

    async with running(settings, faulty) as (processor, task):
        assert await all_committed(settings, timeout_s=90)
        recovery_s = time.monotonic() - began
        assert not task.done(), "the processor stopped by itself"
        assert processor.halted is None
        want = Counter(failure for failure in expected.values() if failure is not None)
        assert processor.stats.dead_lettered == want

    report = await audit_topics(settings, faulty)
    campaign.append(ScenarioResult("10. faulty pipeline", report, recovery_s, True, True))
    assert report.inputs == len(samples)
    assert report.lost == []
    assert report.in_both == []
    assert report.incomplete_dead_letters == []
    assert report.order_violations == []
    assert report.duplicates == 0

    delivery = await collect(settings)
    found: dict[str, tuple[str, str]] = {}
    for record in delivery.dead_letters:
        test_id = (header(record, TEST_ID) or b"").decode()
        stage = (header(record, DLQ_STAGE) or b"").decode()
        error_class = (header(record, DLQ_CLASS) or b"").decode()
        assert test_id not in found, f"{test_id} dead-lettered twice"
        found[test_id] = (stage, error_class)
        if stage == "handler":  # route was called again, up to handler_max_attempts
            assert header(record, DLQ_ATTEMPTS) == b"2", test_id
    assert found == {i: failure for i, failure in expected.items() if failure is not None}
    outputs = [
        (header(r, EVENT_ID) or b"").decode() for rs in delivery.outputs.values() for r in rs
    ]
    assert sorted(outputs) == sorted(i for i, failure in expected.items() if failure is None)


STUBBORN_HOLD_S = 9.0


async def test_an_async_route_that_ignores_cancellation_still_times_out(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(
        bootstrap_servers, unique_name, route_timeout_s=0.2, handler_max_attempts=1,
        dlq_max_ratio=1.0, shutdown_timeout_s=2, topic_partitions=1,
    )  # fmt: skip
    await create_topics(settings, partitions=1)
    samples = [
        Sample(i, b"acct-1", valid_value(i, "acct-1", "add"), True, "add", ((TEST_ID, i.encode()),))
        for i in ["ok-0", "stubborn-1", "ok-2"]
    ]
    await produce(bootstrap_servers, settings.input_topic, samples)

    async with running(settings, StubbornPipeline(STUBBORN_HOLD_S)) as (processor, _):
        # Well within the hold: a timed-out route is a dead letter after route_timeout_s.
        assert await all_committed(settings, timeout_s=STUBBORN_HOLD_S / 3)
        assert processor.stats.dead_lettered == {("handler", "Timeout"): 1}
