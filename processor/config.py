"""Settings: environment variables with prefix ``PROCESSOR_``, overridable by CLI flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PROCESSOR_"
# Settings that were replaced: naming the old one fails, rather than being silently ignored.
RENAMED = {"workers": "concurrency"}
DEFAULT_PIPELINE = "processor.pipelines.transactions:pipeline"
DAY_MS = 24 * 60 * 60 * 1000
# What a consumer reads of a transactional producer's records: all, or the committed only.
IsolationLevel = Literal["read_committed", "read_uncommitted"]


class ConfigError(ValueError):
    """A setting is invalid; the message is one readable line naming it."""


class Settings(BaseSettings):
    """Every setting of the processor. Field ``x`` is env ``PROCESSOR_X`` and flag ``--x``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    # Where to read and write.
    bootstrap_servers: str = Field("localhost:9092", min_length=1)
    input_topic: str = Field("transactions", min_length=1, max_length=249)
    group_id: str = Field("processor", min_length=1)
    group_instance_id: str | None = Field(None, description="static membership id, e.g. pod name")
    dlq_topic: str | None = Field(None, description="default: <input topic>.dlq")
    pipeline: str = DEFAULT_PIPELINE
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    isolation_level: IsolationLevel = Field(
        "read_committed", description="what of a transactional producer's input is read"
    )

    # Backpressure and concurrency.
    queue_max_records: int = Field(10_000, ge=1)
    queue_max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    queue_resume_ratio: float = Field(0.5, ge=0.0, lt=1.0)
    concurrency: int = Field(
        1000, ge=1, le=100_000, description="records being routed at once, per process"
    )
    ordering: Literal["key", "partition", "none"] = Field(
        "key", description="what never overlaps and finishes in input order"
    )
    executor_workers: int = Field(
        0, ge=0, le=4096, description="pool size of a thread or process executor; 0: the default"
    )
    batch_max_records: int = Field(100, ge=1, le=100_000, description="records per route_many")
    batch_max_wait_ms: int = Field(
        50, ge=0, description="how long a route_many batch may wait to fill"
    )
    processes: int = Field(
        0, ge=0, le=256, description="consumer processes, each a group member; 0: one per CPU"
    )

    # Commits, retries and shutdown.
    commit_interval_ms: int = Field(1000, ge=10)
    shutdown_timeout_s: float = Field(30.0, gt=0)
    revoke_timeout_s: float = Field(10.0, gt=0)
    handler_max_attempts: int = Field(3, ge=1)
    route_timeout_s: float = Field(
        30.0, gt=0, description="time limit of one route call (or route_many batch); then it failed"
    )
    startup_timeout_s: float = Field(
        60.0, gt=0, description="wait this long for the cluster and every topic, then exit 4"
    )
    retry_backoff_s: float = Field(0.2, gt=0)
    retry_backoff_max_s: float = Field(10.0, gt=0)

    # The dead-letter flood guard (1.0 turns it off).
    dlq_max_ratio: float = Field(0.5, gt=0.0, le=1.0)
    dlq_window: int = Field(1000, ge=1)

    # Kafka clients.
    max_poll_interval_ms: int = Field(300_000, ge=1000)
    session_timeout_ms: int = Field(45_000, ge=1000)
    heartbeat_interval_ms: int = Field(3_000, ge=100)
    # Below Kafka's 1 MiB: smaller fetches decode into fewer live objects at once, which
    # measured 15-20 MiB less peak RSS per process with the same drain rate (bench/README.md).
    max_partition_fetch_bytes: int = Field(256 * 1024, ge=1024)
    fetch_max_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    producer_batch_bytes: int = Field(512 * 1024, ge=1024)
    producer_linger_ms: int = Field(0, ge=0)
    producer_request_timeout_ms: int = Field(30_000, ge=1000)
    max_request_size: int = Field(1024 * 1024, ge=1024)
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"

    # Security, passed through to aiokafka.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: SecretStr | None = None

    # Topics, for `processor topics ensure` (retention -1: keep forever).
    topic_partitions: int = Field(4, ge=1)
    topic_replication_factor: int = Field(1, ge=1)
    topic_retention_ms: int = Field(7 * DAY_MS, ge=-1, description="input and output topics")
    dlq_retention_ms: int = Field(30 * DAY_MS, ge=-1, description="the dead-letter topic")

    # Metrics and health over HTTP (port 0 turns the server off), and the periodic summary line.
    http_host: str = Field("0.0.0.0", min_length=1)
    http_port: int = Field(8080, ge=0, le=65535, description="/metrics, /healthz, /readyz; 0: off")
    http_unix_socket: Path | None = Field(
        None, description="serve HTTP on this Unix socket instead of http_host:http_port"
    )
    summary_interval_s: float = Field(30.0, ge=0, description="summary log line; 0: off")

    # `processor archive`: when a file rolls, how much it may hold in memory, how it compresses.
    archive_file_max_records: int = Field(100_000, ge=1, description="records per archive file")
    archive_file_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="record bytes (key, value, headers) per file"
    )
    archive_file_max_age_s: float = Field(
        300.0, gt=0, description="seconds a file stays open from its first record"
    )
    archive_max_held_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="record bytes held before the archive pauses"
    )
    archive_compression: Literal["zstd", "snappy", "none"] = "zstd"

    # Logging.
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    @property
    def dead_letter_topic(self) -> str:
        return self.dlq_topic or f"{self.input_topic}.dlq"

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> Settings:
        if self.security_protocol.startswith("SASL_") and self.sasl_mechanism is None:
            raise ValueError("sasl_mechanism is required with a SASL_* security_protocol")
        if self.sasl_mechanism is not None and not (self.sasl_username and self.sasl_password):
            raise ValueError("sasl_username and sasl_password are required with sasl_mechanism")
        return self


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` (from CLI flags) on top."""
    given = {name: value for name, value in overrides.items() if value is not None}
    for old, new in RENAMED.items():
        if ENV_PREFIX + old.upper() in os.environ:
            raise ConfigError(
                f"{ENV_PREFIX}{old.upper()} is no longer a setting: use {ENV_PREFIX}{new.upper()}"
            )
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError(describe(exc, given)) from None


def describe(exc: ValidationError, flags: dict[str, Any]) -> str:
    """One line naming the setting (as the flag or env variable given) and the problem."""
    error = exc.errors(include_url=False)[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    message = str(error["msg"]).removeprefix("Value error, ")
    if not field:
        return f"invalid settings: {message}"
    name = "--" + field.replace("_", "-") if field in flags else ENV_PREFIX + field.upper()
    shown = "" if "password" in field else f" (got {error.get('input')!r})"
    return f"invalid setting {name}: {message}{shown}"


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Connection and security options shared by every aiokafka client the processor makes."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism is not None:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password else None
        )
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        options["ssl_context"] = create_ssl_context(
            cafile=settings.ssl_cafile,
            certfile=settings.ssl_certfile,
            keyfile=settings.ssl_keyfile,
            password=settings.ssl_password.get_secret_value() if settings.ssl_password else None,
        )
    return options
