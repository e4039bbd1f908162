"""Every metric the processor exposes, named once: its name, type, help and labels.

The collector builds its families from these, the supervisor adds ``PROCESS_UP`` to the merged
scrape, and the tests check the scrape and docs/operating.md's tables against ``PROCESS_METRICS``.
Nothing here imports the engine, so the supervisor may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True, slots=True)
class MetricName:
    name: str  # the family's name; a counter's samples add ``_total``
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()

    @property
    def sample(self) -> str:
        """The name an unlabelled sample carries in the text format."""
        return f"{self.name}_total" if self.kind == "counter" else self.name


def _counter(name: str, help: str, *labels: str) -> MetricName:
    return MetricName(f"processor_{name}", "counter", help, labels)


def _gauge(name: str, help: str, *labels: str) -> MetricName:
    return MetricName(f"processor_{name}", "gauge", help, labels)


# Records.
RECORDS_CONSUMED = _counter("records_consumed", "Records taken in from the input topic.")
RECORDS_ROUTED = _counter(
    "records_routed", "Outputs acknowledged by the broker, by topic.", "topic"
)
RECORDS_DEAD_LETTERED = _counter(
    "records_dead_lettered", "Dead letters, by stage and error.", "stage", "error_class"
)
RECORDS_DROPPED = _counter("records_dropped", "Records the pipeline dropped on purpose.")
RECORDS_ACKNOWLEDGED = _counter(
    "records_acknowledged", "Outputs and dead letters acknowledged by the broker."
)
RECORDS_RELEASED_ON_REVOKE = _counter(
    "records_released_on_revoke",
    "Queued records let go at a rebalance (their next owner reads them again).",
)
RECORDS_UNDECODABLE = _counter(
    "records_undecodable",
    "Records the Kafka client could not decode, read raw and handled anyway.",
)
RECORD_LATENCY = MetricName(
    "processor_record_latency_seconds",
    "histogram",
    "From the input record's timestamp to the acknowledgement of its outcome.",
)

# Capacity and backpressure.
QUEUE_RECORDS = _gauge("queue_records", "Records held between intake and commit.")
QUEUE_BYTES = _gauge("queue_bytes", "Bytes held until their outcome is acknowledged.")
QUEUE_CAPACITY_RECORDS = _gauge("queue_capacity_records", "Records before intake pauses.")
QUEUE_CAPACITY_BYTES = _gauge("queue_capacity_bytes", "Bytes held before intake pauses.")
INTAKE_PAUSED = _gauge("intake_paused", "1 while intake is paused by backpressure.")
EMITTER_PENDING = _gauge("emitter_pending_records", "Records awaiting an acknowledgement.")

# Partitions.
ASSIGNED_PARTITIONS = _gauge("assigned_partitions", "Input partitions assigned.")
PAUSED_PARTITIONS = _gauge("paused_partitions", "Input partitions paused.")
COMMITTED_OFFSET = _gauge("committed_offset", "Last committed offset.", "topic", "partition")
HIGH_WATERMARK = _gauge("high_watermark_offset", "Partition high watermark.", "topic", "partition")
CONSUMER_LAG = _gauge(
    "consumer_lag_records", "High watermark minus committed offset.", "topic", "partition"
)

# Events.
PAUSES = _counter("pauses", "Times intake paused.")
RESUMES = _counter("resumes", "Times intake resumed.")
COMMITS = _counter("commits", "Successful offset commits.")
COMMIT_FAILURES = _counter("commit_failures", "Offset commits that failed.")
REBALANCES = _counter("rebalances", "Partition assignments received.")
PRODUCER_RETRIES = _counter("producer_retries", "Batch writes retried.")
HANDLER_RETRIES = _counter("handler_retries", "Pipeline route calls retried.")

# Health.
READY = _gauge("ready", "1 when /readyz answers 200.")
EVENT_LOOP_LAG = _gauge("event_loop_lag_seconds", "How late the loop woke a probe.")

# What runs.
BUILD_INFO = _gauge(
    "build_info", "Always 1; its labels say which versions run.", "version", "python", "aiokafka"
)

# What each process exposes, in the order of the scrape.
PROCESS_METRICS = (
    RECORDS_CONSUMED, RECORDS_ROUTED, RECORDS_DEAD_LETTERED, RECORDS_DROPPED,
    RECORDS_ACKNOWLEDGED, RECORDS_RELEASED_ON_REVOKE, RECORD_LATENCY,
    QUEUE_RECORDS, QUEUE_BYTES, QUEUE_CAPACITY_RECORDS, QUEUE_CAPACITY_BYTES, INTAKE_PAUSED,
    EMITTER_PENDING,
    ASSIGNED_PARTITIONS, PAUSED_PARTITIONS, COMMITTED_OFFSET, HIGH_WATERMARK, CONSUMER_LAG,
    PAUSES, RESUMES, COMMITS, COMMIT_FAILURES, REBALANCES, PRODUCER_RETRIES, HANDLER_RETRIES,
    RECORDS_UNDECODABLE,
    READY, EVENT_LOOP_LAG, BUILD_INFO,
)  # fmt: skip

# Added by the supervisor to the merged scrape of its processes.
PROCESS_UP = MetricName(
    "processor_process_up",
    "gauge",
    "Whether the process answered this scrape (1) or not (0).",
    ("process",),
)

# `processor archive` exposes these, with READY and EVENT_LOOP_LAG, on the same endpoint.
ARCHIVE_RECORDS_CONSUMED = _counter("archive_records_consumed", "Records taken in to archive.")
ARCHIVE_FILES = _counter("archive_files_written", "Archive files renamed into place.", "topic")
ARCHIVE_ROWS = _counter("archive_rows_written", "Rows in archive files, by topic.", "topic")
ARCHIVE_INVALID_ROWS = _counter(
    "archive_invalid_rows_written", "Rows that did not fit their model, in _invalid.", "topic"
)
ARCHIVE_BYTES = _counter("archive_bytes_written", "Bytes of archive files written.", "topic")
ARCHIVE_WRITE_FAILURES = _counter("archive_write_failures", "File writes that failed.")
ARCHIVE_COMMITS = _counter("archive_commits", "Offset commits after a file.")
ARCHIVE_COMMIT_FAILURES = _counter("archive_commit_failures", "Offset commits that failed.")
ARCHIVE_REBALANCES = _counter("archive_rebalances", "Partition assignments received.")
ARCHIVE_PAUSES = _counter("archive_pauses", "Times intake paused for memory.")
ARCHIVE_HELD_RECORDS = _gauge("archive_held_records", "Records taken in, not yet in a file.")
ARCHIVE_HELD_BYTES = _gauge("archive_held_bytes", "Bytes of records held, not yet in a file.")
ARCHIVE_CAPACITY_BYTES = _gauge("archive_capacity_bytes", "Record bytes held before pausing.")
ARCHIVE_PAUSED = _gauge("archive_paused", "1 while intake is paused for memory.")
ARCHIVE_LAG = _gauge(
    "archive_consumer_lag_records",
    "High watermark minus the archive's committed offset.",
    "topic",
    "partition",
)
ARCHIVE_LAST_FILE_AGE = _gauge(
    "archive_last_file_age_seconds", "Seconds since the last file was renamed into place."
)

ARCHIVE_METRICS = (
    ARCHIVE_RECORDS_CONSUMED, ARCHIVE_FILES, ARCHIVE_ROWS, ARCHIVE_INVALID_ROWS, ARCHIVE_BYTES,
    ARCHIVE_WRITE_FAILURES, ARCHIVE_COMMITS, ARCHIVE_COMMIT_FAILURES, ARCHIVE_REBALANCES,
    ARCHIVE_PAUSES, ARCHIVE_HELD_RECORDS, ARCHIVE_HELD_BYTES, ARCHIVE_CAPACITY_BYTES,
    ARCHIVE_PAUSED, ARCHIVE_LAG, ARCHIVE_LAST_FILE_AGE,
    READY, EVENT_LOOP_LAG,
)  # fmt: skip
