"""Settings: environment variables with prefix ``PROCESSOR_``, overridable by CLI flags."""

from __future__ import annotations

import difflib
import os
import socket
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from processor.logs import LogFormat, LogLevel
from processor.security.oauth import TokenProviderError, load_token_provider
from processor.security.tls import TlsFileError, client_context

ENV_PREFIX = "PROCESSOR_"
# Settings that were replaced: naming the old one fails, rather than being silently ignored.
RENAMED = {"workers": "concurrency"}
# Variables with the prefix that are read elsewhere (the local broker's commands), not settings.
OTHER_VARIABLES = frozenset(
    {"PROCESSOR_BROKER_HOME", "PROCESSOR_BROKER_CACHE", "PROCESSOR_SECRETS_DIR"}
)
# A directory of files named like settings (``processor_sasl_password``), one secret each.
SECRETS_DIR_VARIABLE = "PROCESSOR_SECRETS_DIR"
DEFAULT_PIPELINE = "processor.pipelines.transactions:pipeline"
# A value echoed in an error is cut to this many characters: a 5,000-digit number is not read.
ECHO_MAX_CHARS = 60
# A path is shown whole unless absurd: the operator needs all of it to find the file.
PATH_ECHO_MAX_CHARS = 200
DAY_MS = 24 * 60 * 60 * 1000
# What a consumer reads of a transactional producer's records: all, or the committed only.
IsolationLevel = Literal["read_committed", "read_uncommitted"]


class ConfigError(ValueError):
    """A setting is invalid; the message is one readable line naming it."""


class Settings(BaseSettings):
    """Every setting of the processor. Field ``x`` is env ``PROCESSOR_X`` and flag ``--x``."""

    # No inf or nan: an infinite timeout is a wait that never ends.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, allow_inf_nan=False
    )

    # Where to read and write.
    bootstrap_servers: str = Field(
        "localhost:9092",
        min_length=1,
        description="Kafka bootstrap servers, host:port[,host:port].",
    )
    input_topic: str = Field(
        "transactions", min_length=1, max_length=249, description="The topic to read."
    )
    group_id: str = Field("processor", min_length=1, description="The consumer group.")
    group_instance_id: str | None = Field(
        None,
        description="Static membership id (e.g. the pod name), so that a restart does not "
        "rebalance.",
    )
    client_id: str | None = Field(
        None,
        min_length=1,
        description="The Kafka client id brokers show (process i of several: <client id>-i); "
        "unset: <group id>-<instance>-<process index>, the instance being the group instance "
        "id, else the host name.",
    )
    dlq_topic: str | None = Field(
        None, description="The dead-letter topic; unset: <input topic>.dlq."
    )
    pipeline: str = Field(
        DEFAULT_PIPELINE, description="The pipeline to run, as package.module:attribute."
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a consumer group without committed offsets starts."
    )
    isolation_level: IsolationLevel = Field(
        "read_committed",
        description="What is read of a transactional producer's records: read_committed leaves "
        "out aborted transactions (the raw reads past undecodable records too), "
        "read_uncommitted reads everything.",
    )

    # Backpressure and concurrency.
    queue_max_records: int = Field(
        10_000,
        ge=1,
        description="Records a process holds between intake and commit before its intake pauses.",
    )
    queue_max_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Bytes a process holds before its intake pauses (one poll's fetch may pass "
        "it).",
    )
    queue_resume_ratio: float = Field(
        0.5,
        ge=0.0,
        lt=1.0,
        description="Intake resumes when both held counts fall to this share of their maximum.",
    )
    concurrency: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Records being routed at once, per process (an async route, or calls "
        "waiting for a pool).",
    )
    ordering: Literal["key", "partition", "none"] = Field(
        "key",
        description="What never overlaps and finishes in input order: records of one key, of "
        "one partition, or nothing.",
    )
    executor_workers: int = Field(
        0,
        ge=0,
        le=4096,
        description="Pool size of a thread or process executor; 0: 32 threads, or one process "
        "per CPU.",
    )
    batch_max_records: int = Field(
        100, ge=1, le=100_000, description="Records per route_many call."
    )
    batch_max_wait_ms: int = Field(
        50, ge=0, description="How long a route_many batch may wait to fill, in milliseconds."
    )
    processes: int = Field(
        0,
        ge=0,
        le=256,
        description="Consumer processes of this instance, each a group member; 0: one per CPU "
        "the container may use.",
    )

    # Delivery, commits, retries and shutdown.
    guarantee: Literal["at-least-once", "exactly-once"] = Field(
        "at-least-once",
        description="With exactly-once, each input partition's outputs, dead letters and offset "
        "commit go in one transaction.",
    )
    transaction_max_records: int = Field(
        5000,
        ge=1,
        description="Exactly-once: writes after which a partition's transaction commits without "
        "waiting for commit_interval_ms.",
    )
    commit_interval_ms: int = Field(
        1000, ge=10, description="How often acknowledged offsets are committed, in milliseconds."
    )
    shutdown_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Bounds a stop from SIGTERM to exit: in-flight records, the last commit and "
        "the producer's flush (leaving the group gets 5 s more).",
    )
    revoke_timeout_s: float = Field(
        10.0,
        gt=0,
        description="How long a rebalance waits for the records of revoked partitions up to "
        "the highest one started (queued records above it are let go at once, and all of them "
        "past this timeout).",
    )
    handler_max_attempts: int = Field(
        3, ge=1, description="Attempts of a raising route before its record becomes a dead letter."
    )
    route_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Time limit of one route call (or route_many batch) in any executor; a call "
        "over it is a failed attempt.",
    )
    startup_timeout_s: float = Field(
        60.0,
        gt=0,
        description="How long start-up waits for the cluster and every topic before exiting "
        "with status 4.",
    )
    retry_backoff_s: float = Field(
        0.2,
        gt=0,
        description="First back-off of handler and write retries (exponential, jittered).",
    )
    retry_backoff_max_s: float = Field(
        10.0, gt=0, description="Longest back-off of handler and write retries."
    )

    # The dead-letter flood guard (1.0 turns it off).
    dlq_max_ratio: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Halt when more than this share of the last dlq_window records are dead "
        "letters; 1.0: never.",
    )
    dlq_window: int = Field(
        1000, ge=1, description="How many recent records the dead-letter ratio counts."
    )

    # Kafka clients.
    max_poll_interval_ms: int = Field(
        300_000,
        ge=1000,
        description="The consumer's max.poll.interval.ms, also its rebalance timeout.",
    )
    session_timeout_ms: int = Field(
        45_000, ge=1000, description="The consumer's session.timeout.ms (group liveness)."
    )
    heartbeat_interval_ms: int = Field(
        3_000, ge=100, description="The consumer's heartbeat.interval.ms (group liveness)."
    )
    # Below Kafka's 1 MiB: smaller fetches decode into fewer live objects at once, which
    # measured 15-20 MiB less peak RSS per process with the same drain rate (bench/README.md).
    max_partition_fetch_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest fetch from one partition."
    )
    fetch_max_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest fetch response over all partitions."
    )
    producer_batch_bytes: int = Field(
        512 * 1024, ge=1024, description="Largest batch written to one partition at a time."
    )
    producer_linger_ms: int = Field(
        0, ge=0, description="How long the producer waits for a batch to fill, in milliseconds."
    )
    producer_request_timeout_ms: int = Field(
        30_000,
        ge=1000,
        description="The producer's request timeout (a failed write is retried).",
    )
    max_request_size: int = Field(
        1024 * 1024, ge=1024, description="Largest produce request, in bytes."
    )
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "none",
        description="Codec of the outputs and dead letters (every codec is installed for reading).",
    )

    # Security, passed through to aiokafka.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How clients connect to the brokers."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = (
        Field(None, description="The SASL mechanism; required with a SASL_* security protocol.")
    )
    sasl_username: str | None = Field(None, description="The SASL user name.")
    sasl_password: SecretStr | None = Field(
        None,
        description="The SASL password; better given as SASL_PASSWORD_FILE or in the secrets "
        "directory, never as a flag.",
    )
    sasl_password_file: Path | None = Field(
        None, description="A file holding the SASL password (a mounted secret), read at start."
    )
    sasl_oauth_token_provider: str | None = Field(
        None,
        description="OAUTHBEARER: module:attribute of an aiokafka AbstractTokenProvider (a class "
        "or a factory called with no arguments).",
    )
    ssl_cafile: Path | None = Field(
        None, description="PEM file of the certificate authorities to trust."
    )
    ssl_certfile: Path | None = Field(
        None, description="PEM file of the client certificate (mutual TLS)."
    )
    ssl_keyfile: Path | None = Field(None, description="PEM file of the client's private key.")
    ssl_password: SecretStr | None = Field(
        None,
        description="Password of the private key; better given as SSL_PASSWORD_FILE, never as a "
        "flag.",
    )
    ssl_password_file: Path | None = Field(
        None, description="A file holding the private key's password (a mounted secret)."
    )

    # Topics, for `processor topics ensure` (retention -1: keep forever).
    topic_partitions: int = Field(
        4, ge=1, description="Partitions of the topics processor topics ensure creates."
    )
    topic_replication_factor: int = Field(
        1, ge=1, description="Replication factor of the topics processor topics ensure creates."
    )
    topic_retention_ms: int = Field(
        7 * DAY_MS,
        ge=-1,
        description="retention.ms of the input and output topics processor topics ensure "
        "creates; -1: forever.",
    )
    dlq_retention_ms: int = Field(
        30 * DAY_MS,
        ge=-1,
        description="retention.ms of the dead-letter topic processor topics ensure creates; -1: "
        "forever.",
    )

    # Metrics and health over HTTP (port 0 turns the server off), and the periodic summary line.
    http_host: str = Field(
        "0.0.0.0",
        min_length=1,
        description="Address where /metrics, /healthz and /readyz are served.",
    )
    http_port: int = Field(
        8080,
        ge=0,
        le=65535,
        description="Port of /metrics, /healthz and /readyz; 0 turns the server off.",
    )
    http_unix_socket: Path | None = Field(
        None, description="Serve HTTP on this Unix socket instead of http_host and http_port."
    )
    summary_interval_s: float = Field(
        30.0, ge=0, description="Seconds between summary log lines; 0: none."
    )

    # `processor archive`: when a file rolls, how much it may hold in memory, how it compresses.
    archive_file_max_records: int = Field(
        100_000, ge=1, description="processor archive: records per file."
    )
    archive_file_max_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="processor archive: bytes of records (key, value, headers) per file.",
    )
    archive_file_max_age_s: float = Field(
        300.0,
        gt=0,
        description="processor archive: seconds a file stays open after its first record.",
    )
    archive_max_held_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="processor archive: bytes of records held in memory (each record's object "
        "overhead counted) before every partition pauses.",
    )
    archive_compression: Literal["zstd", "snappy", "none"] = Field(
        "zstd", description="processor archive: the Parquet files' codec."
    )

    # Logging.
    log_level: LogLevel = Field("info", description="The least severe log level written.")
    log_format: LogFormat = Field(
        "auto",
        description="Log lines as JSON or for a person; auto: JSON unless stderr is a terminal.",
    )

    @property
    def dead_letter_topic(self) -> str:
        return self.dlq_topic or f"{self.input_topic}.dlq"

    @property
    def kafka_client_id(self) -> str:
        """What the broker calls this process: ``client_id``, else ``<group>-<instance>-0``."""
        return self.client_id or f"{self.group_id}-{instance_name(self)}-0"

    @model_validator(mode="before")
    @classmethod
    def _passwords_from_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for secret in ("sasl_password", "ssl_password"):
            path = data.get(f"{secret}_file")
            if path in (None, ""):
                continue
            if data.get(secret) not in (None, ""):
                variable = ENV_PREFIX + secret.upper()
                raise ValueError(f"give {variable} or {variable}_FILE, not both")
            data = {**data, secret: read_secret(Path(path), ENV_PREFIX + f"{secret}_file".upper())}
        return data

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> Settings:
        if self.security_protocol.startswith("SASL_") and self.sasl_mechanism is None:
            raise ValueError("sasl_mechanism is required with a SASL_* security_protocol")
        if self.sasl_mechanism == "OAUTHBEARER":
            if self.sasl_oauth_token_provider is None:
                raise ValueError("sasl_oauth_token_provider is required with OAUTHBEARER")
        elif self.sasl_mechanism is not None and not (self.sasl_username and self.sasl_password):
            raise ValueError("sasl_username and sasl_password are required with sasl_mechanism")
        return self

    @model_validator(mode="after")
    def _tls_files_exist(self) -> Settings:
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return self
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
                variable = ENV_PREFIX + name.upper()
                shown = echoed(str(path), PATH_ECHO_MAX_CHARS)
                raise ValueError(f"{variable} {shown} is not a readable file")
        return self


def read_secret(path: Path, variable: str) -> SecretStr:
    """A secret from a file, as Kubernetes and Docker mount them: its text without the final
    line break. The error names the file, never its content."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not text"
        raise ValueError(f"{variable} {echoed(str(path), PATH_ECHO_MAX_CHARS)}: {why}") from None
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise ValueError(f"{variable} {echoed(str(path), PATH_ECHO_MAX_CHARS)} is empty")
    return SecretStr(secret)


def instance_name(settings: Settings) -> str:
    """This instance among the group's: its static id (a pod name), else the host's name."""
    return settings.group_instance_id or socket.gethostname()


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` (from CLI flags) on top."""
    given = {name: value for name, value in overrides.items() if value is not None}
    for old, new in RENAMED.items():
        if ENV_PREFIX + old.upper() in os.environ:
            raise ConfigError(
                f"{ENV_PREFIX}{old.upper()} is no longer a setting: use {ENV_PREFIX}{new.upper()}"
            )
    secrets_dir = os.environ.get(SECRETS_DIR_VARIABLE) or None
    if secrets_dir is not None and not Path(secrets_dir).is_dir():
        raise ConfigError(f"{SECRETS_DIR_VARIABLE} {echoed(secrets_dir)} is not a directory")
    try:
        return Settings(**given, _secrets_dir=secrets_dir)
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
    shown = "" if "password" in field else f" (got {echoed(error.get('input'))})"
    return f"invalid setting {name}: {message}{shown}"


def echoed(value: object, limit: int = ECHO_MAX_CHARS) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters saying how long it was."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each ``PROCESSOR_*`` variable that is no setting, naming the closest one.

    A misspelt variable is otherwise silently ignored, and its setting keeps its default.
    """
    settings = {name.upper() for name in Settings.model_fields}
    renamed = {old.upper(): new.upper() for old, new in RENAMED.items()}
    others = {name.removeprefix(ENV_PREFIX) for name in OTHER_VARIABLES}
    known = sorted(settings | set(renamed) | others)
    warnings = []
    for variable in sorted(environ):
        name = variable.removeprefix(ENV_PREFIX)
        if not variable.startswith(ENV_PREFIX) or name in known:
            continue
        line = f"{echoed(variable)} is not a setting and is ignored"
        # Compared without the prefix: every candidate shares it, which would make all close.
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if close:
            also = f"/{renamed[close[0]]}" if close[0] in renamed else ""
            line += f"; did you mean {ENV_PREFIX}{close[0]}{also}?"
        warnings.append(line)
    return warnings


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Connection and security options shared by every aiokafka client the processor makes."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism == "OAUTHBEARER" and settings.sasl_oauth_token_provider:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_oauth_token_provider"] = _token_provider(settings.sasl_oauth_token_provider)
    elif settings.sasl_mechanism is not None:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password else None
        )
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(settings)
    return options


def _token_provider(spec: str) -> Any:
    try:
        return load_token_provider(spec)
    except TokenProviderError as exc:
        raise ConfigError(str(exc)) from None


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    try:
        return client_context(
            settings.ssl_cafile,
            settings.ssl_certfile,
            settings.ssl_keyfile,
            settings.ssl_password.get_secret_value() if settings.ssl_password else None,
        )
    except TlsFileError as exc:
        raise ConfigError(str(exc)) from None
