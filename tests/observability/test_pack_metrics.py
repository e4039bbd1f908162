"""Every metric the dashboard and the alert rules query is one a running processor exposes.

The processor runs as operators run it: ``processor run`` with two consumer processes under
their supervisor (so ``processor_process_up`` is there), against the real broker, with records
that make outputs and dead letters. Its ``/metrics`` is scraped as Prometheus would.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from processor.telemetry.http import METRICS_PATH, READY_PATH
from tests.kafka_support import all_committed, create_topics, mixed_samples, produce, settings_for
from tests.observability.http_client import free_port, get, wait_for_status
from tests.observability.pack import groupings, metric_names, queries
from tests.processes import ProcessorProcess

RECORDS = 200
# Metrics the pack queries that come from elsewhere, and where.
EXTERNAL = {
    "up": "Prometheus, one per scrape target",
    "kube_pod_container_status_last_terminated_exitcode": "kube-state-metrics",
    "kube_pod_container_status_restarts_total": "kube-state-metrics",
}
# Labels Prometheus adds to every scraped sample (Kubernetes ones through the PodMonitor).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "container"}
# What each histogram and counter family exposes besides its name, by type.
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


class Scrape:
    """The sample names of a scrape, with the labels each carries."""

    def __init__(self, text: str) -> None:
        self.labels: dict[str, set[str]] = {}
        for family in text_string_to_metric_families(text):
            for suffix in SUFFIXES.get(family.type, ("",)):
                self.labels.setdefault(family.name + suffix, set())
            for sample in family.samples:
                self.labels.setdefault(sample.name, set()).update(sample.labels)

    def names(self) -> set[str]:
        return set(self.labels)


@pytest.fixture(scope="module")
async def scrape(bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory) -> Scrape:
    name = f"pack-{free_port()}"
    settings = settings_for(bootstrap_servers, name)
    await create_topics(settings, partitions=2)
    port = free_port()
    log = tmp_path_factory.mktemp("pack") / "processor.log"
    extra = ("--processes", "2", "--http-port", str(port), "--http-host", "127.0.0.1")
    process = ProcessorProcess(settings, log, *extra).start()
    try:
        await wait_for_status(port, READY_PATH, 200)
        await produce(bootstrap_servers, settings.input_topic, mixed_samples(RECORDS))
        assert await all_committed(settings)
        status, text = await get(port, METRICS_PATH)
        assert status == 200
    finally:
        code = await process.stop(signal.SIGTERM)
    assert code == 0, log_tail(log)
    return Scrape(text)


def log_tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-20:])


def used() -> Iterator[tuple[str, str]]:
    """(where, metric name) for every metric the pack queries."""
    for query in queries():
        for name in metric_names(query.promql):
            yield query.where, name


def test_every_metric_the_pack_queries_is_exposed_or_known_to_come_from_elsewhere(
    scrape: Scrape,
) -> None:
    exposed = scrape.names()
    unknown = {(where, name) for where, name in used() if name not in exposed | set(EXTERNAL)}
    assert unknown == set()


def test_the_pack_queries_its_own_metrics_mostly(scrape: Scrape) -> None:
    names = {name for _, name in used()}
    assert set(EXTERNAL) <= names  # each exception is still needed
    assert len(names - set(EXTERNAL)) >= 15


def test_every_label_the_pack_groups_by_is_on_the_metrics_it_groups(scrape: Scrape) -> None:
    wrong = []
    for query in queries():
        for labels, metrics in groupings(query.promql):
            for metric in metrics - set(EXTERNAL):
                carried = scrape.labels[metric] | TARGET_LABELS
                wrong += [(query.where, metric, label) for label in labels if label not in carried]
    assert wrong == []


def test_the_scrape_has_dead_letters_by_class_and_a_process_label(scrape: Scrape) -> None:
    # The records made every labelled family the pack groups by show its labels.
    assert {"stage", "error_class", "process"} <= scrape.labels[
        "processor_records_dead_lettered_total"
    ]
    assert "process" in scrape.labels["processor_process_up"]
