"""The SQLite lookup example: each order line goes where the catalogue says, from pool threads,
while the event loop stays free."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

from examples.pipelines.sqlite_lookup import (
    DATABASE_VARIABLE,
    CatalogueLookup,
    PlacedLine,
    Product,
    write_catalogue,
)
from processor import headers as h
from processor.config import load_settings
from processor.engine.executors import ExecutorError
from processor.pipeline import load_pipeline
from processor.testing import run_pipeline
from tests.examples.support import event_ids_by_key, loop_lag, sample_ids_by_key
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

PRODUCTS = [
    Product("KB-101", 40, "berlin", False),
    Product("MS-202", 0, "berlin", False),
    Product("MN-303", 5, "lyon", False),
    Product("CB-404", 100, "lyon", True),
]
# What becomes of a line of each SKU, by quantity (the catalogue above is the specification).
UNKNOWN_SKU = "XX-999"


def expected_destination(sku: str, quantity: int) -> str:
    stock = {p.sku: p.stock for p in PRODUCTS if not p.discontinued}
    if sku == UNKNOWN_SKU:
        return "dead letter"
    if sku not in stock:
        return "dropped"
    return "fulfil" if stock[sku] >= quantity else "backorder"


class RecordingCatalogue(CatalogueLookup):
    """The catalogue on a slow disk: each lookup blocks ``delay_s``; remembers its threads."""

    def __init__(self, database: Path, delay_s: float = 0.0) -> None:
        super().__init__(database)
        self.delay_s = delay_s
        self.threads: set[str] = set()

    def find(self, sku: str) -> Product | None:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay_s)
        return super().find(sku)


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    database = tmp_path / "catalogue.sqlite3"
    write_catalogue(database, PRODUCTS)
    return database


def line(order_id: str, number: int, sku: str, quantity: int) -> bytes:
    body = {"order_id": order_id, "line_id": f"{order_id}/{number}", "sku": sku}
    return json.dumps({**body, "quantity": quantity}).encode()


def test_a_line_in_stock_goes_to_fulfilment_keyed_by_order(catalogue: Path) -> None:
    result = run_pipeline(CatalogueLookup(catalogue), [line("o-1", 1, "KB-101", 2)])

    [output] = result.outputs
    assert (output.topic, output.key) == ("input.fulfil", b"o-1")
    assert output.header(h.EVENT_ID) == "o-1/1"
    placed = PlacedLine.model_validate_json(output.value or b"")
    assert (placed.sku, placed.quantity, placed.warehouse, placed.in_stock) == (
        "KB-101",
        2,
        "berlin",
        40,
    )


def test_a_line_beyond_the_stock_goes_to_the_backorders(catalogue: Path) -> None:
    result = run_pipeline(CatalogueLookup(catalogue), [line("o-1", 1, "MN-303", 6)])

    assert [output.topic for output in result.outputs] == ["input.backorder"]


def test_a_discontinued_product_is_dropped(catalogue: Path) -> None:
    result = run_pipeline(CatalogueLookup(catalogue), [line("o-1", 1, "CB-404", 1)])

    assert (result.outputs, result.dead_letters, result.dropped) == ([], [], 1)


def test_an_unknown_sku_is_a_dead_letter(catalogue: Path) -> None:
    result = run_pipeline(CatalogueLookup(catalogue), [line("o-1", 1, UNKNOWN_SKU, 1)])

    [letter] = result.dead_letters
    assert (letter.stage, letter.error_class) == ("route", "UnknownSku")


def test_lookups_run_in_pool_threads(catalogue: Path) -> None:
    pipeline = RecordingCatalogue(catalogue, delay_s=0.005)
    lines = [line(f"o-{n}", 1, "KB-101", 1) for n in range(40)]

    result = run_pipeline(pipeline, lines, load_settings(input_topic="input", executor_workers=4))

    assert len(result.outputs) == 40
    assert 1 < len(pipeline.threads) <= 4
    assert threading.main_thread().name not in pipeline.threads


def test_a_missing_catalogue_stops_the_pipeline_at_start(tmp_path: Path) -> None:
    with pytest.raises(ExecutorError, match="cannot read the catalogue"):
        run_pipeline(CatalogueLookup(tmp_path / "nowhere.sqlite3"), [])


def test_the_factory_takes_the_database_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, catalogue: Path
) -> None:
    monkeypatch.setenv(DATABASE_VARIABLE, str(catalogue))

    loaded = load_pipeline("examples.pipelines.sqlite_lookup:pipeline")

    assert isinstance(loaded, CatalogueLookup)
    assert loaded.database == catalogue


def line_samples(orders: int, lines_per_order: int) -> list[Sample]:
    rng = random.Random(orders)
    skus = [p.sku for p in PRODUCTS]
    samples = []
    for n in range(orders):
        for number in range(1, lines_per_order + 1):
            sku = UNKNOWN_SKU if rng.random() < 0.05 else rng.choice(skus)
            quantity = rng.randint(1, 8)
            value = line(f"o-{n}", number, sku, quantity)
            valid = expected_destination(sku, quantity) != "dead letter"
            samples.append(Sample(f"o-{n}/{number}", f"o-{n}".encode(), value, valid))
    return samples


def destination(sample: Sample) -> str:
    body = json.loads(sample.value or b"")
    return expected_destination(body["sku"], body["quantity"])


async def test_lines_are_routed_from_threads_while_the_loop_stays_responsive(
    bootstrap_servers: str, unique_name: str, catalogue: Path
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, concurrency=16, executor_workers=8)
    samples = line_samples(orders=100, lines_per_order=3)
    pipeline = RecordingCatalogue(catalogue, delay_s=0.01)
    await create_topics(settings, pipeline=pipeline)
    await produce(bootstrap_servers, settings.input_topic, samples)

    async with loop_lag() as lag, running(settings, pipeline) as (processor, _):
        assert await all_committed(settings)

    assert lag.max_lag_s < 0.1
    assert len(pipeline.threads) > 1
    for topic in ("fulfil", "backorder"):
        outputs = await read_all(bootstrap_servers, f"{settings.input_topic}.{topic}")
        expected = [s for s in samples if destination(s) == topic]
        assert event_ids_by_key(outputs) == sample_ids_by_key(expected)
    dead_letters = await read_all(bootstrap_servers, settings.dead_letter_topic)
    assert sorted(json.loads(d.value)["line_id"] for d in dead_letters) == sorted(
        s.test_id for s in samples if destination(s) == "dead letter"
    )
    assert {header(d, h.DLQ_CLASS) for d in dead_letters} == {b"UnknownSku"}
    assert processor.stats.dropped == sum(destination(s) == "dropped" for s in samples)
