"""The HTTP enrichment example: each order gets its customer from the service; an unknown
customer is a dead letter, a failing service is retried."""

from __future__ import annotations

import json
import random

import pytest

from examples.pipelines.enrich_http import (
    URL_VARIABLE,
    Customer,
    EnrichedOrder,
    EnrichOrders,
)
from processor import headers as h
from processor.config import load_settings
from processor.pipeline import load_pipeline
from processor.testing import run_pipeline_async
from tests.examples.customer_service import CustomerService, customers
from tests.examples.support import event_ids_by_key, sample_ids_by_key
from tests.kafka_support import (
    Sample,
    all_committed,
    create_topics,
    header,
    produce,
    read_all,
    running,
    settings_for,
)

ALWAYS = 10**6


def order(order_id: str, customer_id: str, total_cents: int = 1250) -> bytes:
    body = {"order_id": order_id, "customer_id": customer_id, "total_cents": total_cents}
    return json.dumps(body).encode()


async def test_an_order_gets_its_customer_and_is_keyed_by_customer() -> None:
    async with CustomerService(customers(3)) as service:
        result = await run_pipeline_async(EnrichOrders(service.base_url), [order("o-1", "c-1")])

    assert result.dead_letters == []
    [output] = result.outputs
    assert output.topic == "input.enriched"
    assert output.key == b"c-1"
    assert output.header(h.EVENT_ID) == "o-1"
    assert EnrichedOrder.model_validate_json(output.value or b"") == EnrichedOrder(
        order_id="o-1",
        customer_id="c-1",
        total_cents=1250,
        customer=Customer.model_validate(customers(3)["c-1"]),
    )


async def test_an_unknown_customer_is_a_dead_letter_and_is_not_retried() -> None:
    async with CustomerService(customers(3)) as service:
        result = await run_pipeline_async(EnrichOrders(service.base_url), [order("o-1", "c-9")])

    assert result.outputs == []
    [letter] = result.dead_letters
    assert (letter.stage, letter.error_class) == ("route", "UnknownCustomer")
    assert letter.value == order("o-1", "c-9")
    assert service.requests["c-9"] == 1


async def test_a_failing_service_is_retried_then_the_order_is_dead_lettered() -> None:
    settings = load_settings(input_topic="input", handler_max_attempts=3)
    async with CustomerService(customers(3), failures={"c-1": ALWAYS}) as service:
        pipeline = EnrichOrders(service.base_url)
        result = await run_pipeline_async(pipeline, [order("o-1", "c-1")], settings)

    [letter] = result.dead_letters
    assert (letter.stage, letter.error_class) == ("handler", "ServiceError")
    assert "503" in (letter.message or "")
    assert service.requests["c-1"] == 3


async def test_a_service_that_recovers_within_the_attempts_loses_nothing() -> None:
    async with CustomerService(customers(3), failures={"c-1": 1}) as service:
        result = await run_pipeline_async(EnrichOrders(service.base_url), [order("o-1", "c-1")])

    assert [output.key for output in result.outputs] == [b"c-1"]
    assert service.requests["c-1"] == 2


async def test_concurrent_lookups_share_a_few_kept_alive_connections() -> None:
    orders = [order(f"o-{n}", f"c-{n}") for n in range(40)]
    async with CustomerService(customers(40), delay_s=0.01) as service:
        result = await run_pipeline_async(EnrichOrders(service.base_url, pool_size=4), orders)

    assert len(result.outputs) == 40
    assert 1 < service.max_in_flight <= 4
    assert service.connections <= 4


async def test_a_connection_the_service_dropped_is_replaced_without_failing_the_order() -> None:
    orders = [order(f"o-{n}", f"c-{n % 5}") for n in range(20)]
    async with CustomerService(customers(5), keep_alive=False) as service:
        result = await run_pipeline_async(EnrichOrders(service.base_url, pool_size=2), orders)

    assert len(result.outputs) == 20
    assert result.dead_letters == []
    assert service.requests.total() == 20  # a stale connection never cost an attempt


def test_the_factory_takes_the_service_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(URL_VARIABLE, "http://customers.internal:9000")
    settings = load_settings(concurrency=4)

    loaded = load_pipeline("examples.pipelines.enrich_http:pipeline", settings)

    assert isinstance(loaded, EnrichOrders)
    assert (loaded.base_url, loaded.pool_size) == ("http://customers.internal:9000", 4)


def order_samples(count: int, known: int, unknown_every: int) -> list[Sample]:
    rng = random.Random(count)
    samples = []
    for n in range(count):
        unknown = n % unknown_every == unknown_every - 1
        customer_id = f"c-missing-{n}" if unknown else f"c-{rng.randrange(known)}"
        value = order(f"o-{n}", customer_id, total_cents=n)
        samples.append(Sample(f"o-{n}", customer_id.encode(), value, valid=not unknown))
    return samples


async def test_orders_are_enriched_concurrently_through_a_real_broker(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, concurrency=64)
    samples = order_samples(300, known=40, unknown_every=25)
    known = customers(40)

    async with CustomerService(known, delay_s=0.005) as service:
        pipeline = EnrichOrders(service.base_url)
        await create_topics(settings, pipeline=pipeline)
        await produce(bootstrap_servers, settings.input_topic, samples)
        async with running(settings, pipeline):
            assert await all_committed(settings)

    outputs = await read_all(bootstrap_servers, f"{settings.input_topic}.enriched")
    dead_letters = await read_all(bootstrap_servers, settings.dead_letter_topic)
    assert event_ids_by_key(outputs) == sample_ids_by_key(s for s in samples if s.valid)
    for output in outputs:
        enriched = EnrichedOrder.model_validate_json(output.value)
        assert enriched.customer == Customer.model_validate(known[enriched.customer_id])
    assert sorted(json.loads(d.value)["order_id"] for d in dead_letters) == sorted(
        s.test_id for s in samples if not s.valid
    )
    for letter in dead_letters:
        assert header(letter, h.DLQ_STAGE) == b"route"
        assert header(letter, h.DLQ_CLASS) == b"UnknownCustomer"
    assert service.max_in_flight > 1
