"""The metric names, one place: the collector exposes exactly them, the docs list exactly them.

The collector reads a stand-in for the engine's view (telemetry depends on the view alone), so
this needs no broker; ``test_endpoints`` scrapes a real processor.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from processor.engine.flow import FlowControl
from processor.engine.latency import LatencyHistogram
from processor.engine.positions import PartitionPosition
from processor.engine.stats import Stats
from processor.telemetry.health import LoopLagProbe
from processor.telemetry.metrics import ProcessorCollector
from processor.telemetry.names import ARCHIVE_METRICS, PROCESS_METRICS, PROCESS_UP

OPERATING = Path(__file__).resolve().parents[2] / "docs" / "operating.md"


@dataclass
class StandInView:
    """What telemetry reads of a running processor (processor.engine.view.EngineView)."""

    stats: Stats = field(default_factory=Stats)
    flow: FlowControl = field(default_factory=lambda: FlowControl(100, 1000))
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    dead_letter_topic: str = "dead"
    pending_writes: int = 3
    paused_partitions: int = 0
    joined: bool = True
    producer_started: bool = True
    halted: str | None = None
    stopping: bool = False
    trouble: str | None = None
    held: list[PartitionPosition] = field(default_factory=list)

    def positions(self) -> list[PartitionPosition]:
        return self.held


def scraped(view: StandInView) -> dict[str, str]:
    """Family name -> type, as a Prometheus server would parse the scrape."""
    registry = CollectorRegistry()
    registry.register(ProcessorCollector(view, LoopLagProbe()))
    text = generate_latest(registry).decode()
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def test_the_collector_exposes_every_named_metric_with_its_type_and_nothing_else() -> None:
    view = StandInView(held=[PartitionPosition(TopicPartition("in", 0), 5, 9)])
    view.stats.acknowledged.update({"out": 4, "dead": 1})
    view.stats.dead_lettered[("decode", "JSONDecodeError")] += 1
    view.latency.observe(0.2)
    families = scraped(view)
    assert families == {m.name: m.kind for m in PROCESS_METRICS}  # the parser drops _total


def test_a_counter_only_goes_by_acknowledgements_and_routed_leaves_out_dead_letters() -> None:
    view = StandInView()
    view.stats.acknowledged.update({"out": 4, "dead": 1})
    registry = CollectorRegistry()
    registry.register(ProcessorCollector(view, LoopLagProbe()))
    text = generate_latest(registry).decode()
    assert 'processor_records_routed_total{topic="out"} 4.0' in text
    assert 'topic="dead"' not in text
    assert "processor_records_acknowledged_total 5.0" in text


def test_every_name_is_unique() -> None:
    archive_only = [m for m in ARCHIVE_METRICS if m not in PROCESS_METRICS]
    counts = Counter(m.name for m in (*PROCESS_METRICS, PROCESS_UP, *archive_only))
    assert [name for name, count in counts.items() if count > 1] == []


def readme_metric_names() -> set[str]:
    """Every ``processor_*`` name in the first column of docs/operating.md's metrics tables."""
    names: set[str] = set()
    for line in OPERATING.read_text().splitlines():
        cells = line.split("|")
        if len(cells) > 2 and "processor_" in cells[1]:
            names.update(re.findall(r"`(processor_[a-z_]+)", cells[1]))
    return names


def test_the_readme_table_lists_exactly_the_metrics_there_are() -> None:
    samples = {m.sample for m in (*PROCESS_METRICS, *ARCHIVE_METRICS)} | {PROCESS_UP.sample}
    assert readme_metric_names() == samples
