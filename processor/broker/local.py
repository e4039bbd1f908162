"""Start, stop and check a single-node Apache Kafka broker (KRaft, broker and controller in one).

The broker runs detached from the command that started it, with its config, data, logs and pid
file under one directory, so ``processor broker up`` can return and ``down`` find it later. Each
node of a :class:`~processor.broker.cluster.LocalCluster` is one of these.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from processor.broker.acls import full_access, grant
from processor.broker.jars import KAFKA_VERSION, BrokerError, ensure_jars
from processor.broker.probe import wait_until_ready
from processor.broker.process import (
    alive,
    forget,
    kill_process,
    log_sizes,
    refuse_taken_ports,
    require_java,
    run_tool,
    runs_properties,
    spawn_detached,
    terminate_process,
    what_went_wrong,
)
from processor.broker.secure import (
    CLIENT_USER,
    SECURED_PROTOCOLS,
    Credentials,
    SecuredProtocol,
    SecurePorts,
    client_settings,
    listener_properties,
    scram_arguments,
)
from processor.broker.settings import java_command, log4j_config, new_cluster_id, server_properties

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "BrokerStatus",
    "LocalBroker",
    "Starting",
    "default_home",
    "wait_until_ready",
]

_ATTEMPT_TIMEOUT_S = 3.0

Progress = Callable[[str], None]


def _no_progress(message: str) -> None:
    """Progress sink for callers that want none."""


def default_home() -> Path:
    """``$PROCESSOR_BROKER_HOME``, else ``~/.local/share/processor/broker``."""
    fallback = Path.home() / ".local" / "share" / "processor" / "broker"
    return Path(os.environ.get("PROCESSOR_BROKER_HOME") or fallback)


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    """What :meth:`LocalBroker.status` found."""

    running: bool
    pid: int | None
    bootstrap: str
    home: Path

    def line(self) -> str:
        """One line for people and scripts: ``running pid=… bootstrap=… home=…``."""
        if self.running:
            return f"running pid={self.pid} bootstrap={self.bootstrap} home={self.home}"
        return f"not running home={self.home}"


@dataclass(frozen=True, slots=True)
class LocalBroker:
    """A Kafka broker whose config, data, logs and pid file live in ``home``."""

    home: Path = field(default_factory=default_home)
    port: int = 9092
    controller_port: int = 9093
    host: str = "127.0.0.1"
    # Broker settings over ours (``server.properties`` keys), applied when it starts.
    overrides: tuple[tuple[str, str], ...] = ()
    heap_mb: int = 512
    # TLS, SASL and ACLs on these ports besides the plaintext admin port (processor.broker.secure).
    secure: SecurePorts | None = None

    def __post_init__(self) -> None:
        # The broker is recognised by this path in its command line, so spell it one way only.
        object.__setattr__(self, "home", Path(self.home).expanduser().absolute())

    @property
    def bootstrap(self) -> str:
        """The client address, ``host:port``."""
        return f"{self.host}:{self.port}"

    @property
    def credentials(self) -> Credentials:
        """The secured broker's CA, certificates and passwords."""
        return Credentials(self.home / "secrets")

    def secure_bootstrap(self, protocol: SecuredProtocol) -> str:
        """The address of the secured listener for ``protocol``."""
        if self.secure is None:
            raise BrokerError("this broker has no secured listeners (start it with --secure)")
        return f"{self.host}:{self.secure.of(protocol)}"

    def client_settings(
        self, protocol: SecuredProtocol = "SASL_SSL", mechanism: str = "SCRAM-SHA-512"
    ) -> dict[str, str]:
        """The processor's settings (``PROCESSOR_*``) to connect as the client user."""
        address = self.secure_bootstrap(protocol)
        return client_settings(address, self.credentials, protocol, mechanism)

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        """The broker's own log (log4j, INFO)."""
        return self.home / "logs" / "server.log"

    @property
    def console_file(self) -> Path:
        """The JVM's stdout and stderr."""
        return self.home / "logs" / "broker.out"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def _properties_file(self) -> Path:
        return self.home / "config" / "server.properties"

    def status(self) -> BrokerStatus:
        """Whether this home's broker process is alive, with its pid and address."""
        pid = self._live_pid()
        return BrokerStatus(pid is not None, pid, self.bootstrap, self.home)

    def up(self, timeout_s: float = 60, *, progress: Progress = _no_progress) -> str:
        """Start the broker unless it runs already; return its bootstrap address once it answers.

        ``timeout_s`` bounds the wait for the broker to answer; fetching the jars on first use
        (Maven, about ten seconds) comes before it. Raises BrokerError with a readable reason.
        """
        self._refuse_other_setup()
        pid = self._live_pid()
        if pid is not None:
            progress(f"already running (pid {pid}), home {self.home}")
            wait_until_ready(self.bootstrap, timeout_s)
            self._grant_client_access()
            return self.bootstrap
        self.refuse_taken_ports()
        require_java()
        progress(f"resolving Kafka {KAFKA_VERSION} jars (Maven fetches them once, ~10 s) ...")
        libs = ensure_jars()
        progress(f"starting Kafka {KAFKA_VERSION} at {self.bootstrap}, log {self.log_file}")
        starting = self.spawn(libs)
        starting.wait(timeout_s)
        self._grant_client_access()
        progress(f"ready (pid {starting.jvm.pid})")
        return self.bootstrap

    def down(self, timeout_s: float = 30) -> bool:
        """Stop the broker (SIGTERM, SIGKILL after ``timeout_s``); False when it was not running."""
        pid = self._live_pid()
        if pid is not None:
            terminate_process(pid, timeout_s)
        self.pid_file.unlink(missing_ok=True)
        return pid is not None

    def kill(self) -> bool:
        """Kill the broker at once (SIGKILL), as a crash would; False when it was not running."""
        pid = self._live_pid()
        if pid is not None:
            kill_process(pid)
        self.pid_file.unlink(missing_ok=True)
        return pid is not None

    def refuse_taken_ports(self) -> None:
        """Raise BrokerError naming the first of this broker's ports another program holds."""
        secured = [] if self.secure is None else [self.secure.of(p) for p in SECURED_PROTOCOLS]
        refuse_taken_ports(self.host, [self.port, self.controller_port, *secured])

    def spawn(self, libs: Path, *, cluster_id: str | None = None) -> Starting:
        """Write the config, format the storage on first use, and start the JVM; don't wait.

        ``cluster_id`` names the cluster the storage is formatted for (every node of a cluster
        shares one); None makes up a new one. Storage formatted before keeps its own.
        """
        self._write_config()
        self._format_storage_once(libs, cluster_id or new_cluster_id())
        logs_before = log_sizes((self.console_file, self.log_file))
        command = [
            *java_command(libs, self.home / "config", heap_mb=self.heap_mb),
            "kafka.Kafka",
            str(self._properties_file),
        ]
        spawned = spawn_detached(command, self.console_file)
        self.pid_file.write_text(f"{spawned.pid}\n")
        return Starting(self, spawned, logs_before)

    def _refuse_other_setup(self) -> None:
        # SCRAM users are made when the storage is formatted: a plaintext broker's data has none.
        formatted = (self.data_dir / "meta.properties").exists()
        if self.secure is not None and formatted and not self.credentials.ca_file.exists():
            raise BrokerError(
                f"the broker in {self.home} was set up without --secure; "
                "stop it and use another --home for a secured one"
            )

    def _grant_client_access(self) -> None:
        if self.secure is not None:
            grant(self.bootstrap, full_access(CLIENT_USER))

    def _write_config(self) -> None:
        for folder in (self.home / "config", self.data_dir, self.home / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        settings: dict[str, str] = {}
        if self.secure is not None:
            self.credentials.prepare((self.host, "localhost"))
            settings = listener_properties(
                self.host, self.port, self.controller_port, self.secure, self.credentials
            )
        properties = server_properties(
            self.host, self.port, self.controller_port, self.data_dir,
            settings | dict(self.overrides),
        )  # fmt: skip
        self._properties_file.write_text(properties)
        (self.home / "config" / "log4j2.properties").write_text(log4j_config(self.log_file))

    def _format_storage_once(self, libs: Path, cluster_id: str) -> None:
        if (self.data_dir / "meta.properties").exists():
            return  # formatted before; saves a JVM start
        tool = [*java_command(libs, self.home / "config", heap_mb=128), "kafka.tools.StorageTool"]
        format_command = ["format", "-t", cluster_id, "-c", str(self._properties_file)]
        if self.secure is not None:
            format_command += scram_arguments(self.credentials)
        run_tool([*tool, *format_command, "--ignore-formatted"], "format")

    def _live_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if alive(pid) and runs_properties(pid, self._properties_file):
            return pid
        return None


@dataclass(frozen=True, slots=True)
class Starting:
    """A broker just spawned, not yet known to answer."""

    broker: LocalBroker
    jvm: subprocess.Popen[bytes]
    logs_before: dict[Path, int]

    def wait(self, timeout_s: float) -> None:
        """Return once the broker answers; else stop it and raise BrokerError with its log's
        last problem, when it exits or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while self.jvm.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.broker.down()
                raise BrokerError(
                    f"the broker did not answer within {timeout_s:.0f} s; "
                    f"its log says: {what_went_wrong(self.logs_before)}"
                )
            with contextlib.suppress(BrokerError):
                wait_until_ready(self.broker.bootstrap, min(remaining, _ATTEMPT_TIMEOUT_S))
                return
        forget(self.jvm)
        self.broker.pid_file.unlink(missing_ok=True)
        raise BrokerError(
            f"the broker exited during start (code {self.jvm.returncode}); "
            f"its log says: {what_went_wrong(self.logs_before)}"
        )
