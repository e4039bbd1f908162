"""``processor archive``'s metrics and readiness, read from a stand-in for its view (no broker)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from processor.archive.view import ArchiveStats
from processor.engine.positions import PartitionPosition
from processor.telemetry.archive import ArchiveCollector, archive_readiness
from processor.telemetry.health import LoopLagProbe
from processor.telemetry.names import ARCHIVE_METRICS


@dataclass
class StandInArchive:
    stats: ArchiveStats = field(default_factory=ArchiveStats)
    held_records: int = 5
    held_bytes: int = 500
    max_held_bytes: int = 1000
    paused: bool = False
    joined: bool = True
    stopping: bool = False
    trouble: str | None = None
    held: list[PartitionPosition] = field(default_factory=list)

    def positions(self) -> list[PartitionPosition]:
        return self.held


def scrape(view: StandInArchive) -> str:
    registry = CollectorRegistry()
    registry.register(ArchiveCollector(view, LoopLagProbe()))
    return generate_latest(registry).decode()


def test_the_collector_exposes_every_archive_metric_with_its_type() -> None:
    view = StandInArchive(held=[PartitionPosition(TopicPartition("t", 0), 5, 9)])
    view.stats.files["t"] += 2
    view.stats.last_file_at_s = 1.0
    families = {f.name: f.type for f in text_string_to_metric_families(scrape(view))}
    assert families == {m.name: m.kind for m in ARCHIVE_METRICS}


def test_counts_lag_and_last_file_age_are_what_the_view_holds() -> None:
    view = StandInArchive(held=[PartitionPosition(TopicPartition("t", 1), 5, 9)])
    view.stats.files["t"] += 2
    view.stats.rows["t"] += 300
    text = scrape(view)
    assert 'processor_archive_files_written_total{topic="t"} 2.0' in text
    assert 'processor_archive_rows_written_total{topic="t"} 300.0' in text
    assert 'processor_archive_consumer_lag_records{partition="1",topic="t"} 4.0' in text
    assert "\nprocessor_archive_last_file_age_seconds " not in text  # no file yet: no sample


def test_readiness_names_a_failing_write_and_waits_for_the_group() -> None:
    assert archive_readiness(StandInArchive()) is None
    assert archive_readiness(StandInArchive(joined=False)) == "not joined to the consumer group yet"
    failing = StandInArchive(trouble="cannot write to /a: [Errno 28] No space left on device")
    assert archive_readiness(failing) == failing.trouble
    assert archive_readiness(StandInArchive(stopping=True, trouble="x")) == "stopping"
