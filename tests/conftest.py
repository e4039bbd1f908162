"""One real Kafka broker per test session; each test brings its own topics and group.

Tests that ask for ``kafka_cluster`` get a three-broker cluster as well (marked ``cluster``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from processor.broker import LocalBroker, LocalCluster
from processor.broker.secure import SecurePorts

# testcontainers drives Confluent's image scripts; cp-kafka 8.0 ships Apache Kafka 4.0 (KRaft).
KAFKA_CONTAINER_IMAGE = "confluentinc/cp-kafka:8.0.0"


@dataclass(frozen=True)
class SessionKafka:
    """The session's broker: where it answers, and the LocalBroker if this session started one."""

    bootstrap: str
    local: LocalBroker | None = None


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now, all different (each stays bound until all are picked)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def _free_port() -> int:
    return free_ports(1)[0]


def _docker_engine_answers() -> bool:
    # The docker CLI may be installed without an engine; `docker info` then fails at once.
    if shutil.which("docker") is None:
        return False
    command = ["docker", "info", "--format", "{{.ServerVersion}}"]
    try:
        probe = subprocess.run(command, capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@contextlib.contextmanager
def _kafka_container() -> Iterator[str]:
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:  # testcontainers before 4.10
        from testcontainers.kafka import KafkaContainer
    with KafkaContainer(KAFKA_CONTAINER_IMAGE).with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@pytest.fixture(scope="session")
def session_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionKafka]:
    """``KAFKA_BOOTSTRAP_SERVERS``; else a testcontainers Kafka; else Kafka from the jars."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield SessionKafka(given)
    elif _docker_engine_answers():
        with _kafka_container() as bootstrap:
            yield SessionKafka(bootstrap)
    else:
        port, controller_port = free_ports(2)
        broker = LocalBroker(tmp_path_factory.mktemp("kafka"), port, controller_port)
        try:
            yield SessionKafka(broker.up(timeout_s=180), broker)
        finally:
            broker.down()


@pytest.fixture(scope="session")
def bootstrap_servers(session_kafka: SessionKafka) -> str:
    """The bootstrap address of a real broker, shared by the whole session."""
    return session_kafka.bootstrap


@pytest.fixture(scope="session")
def local_broker(session_kafka: SessionKafka) -> LocalBroker:
    """The session's LocalBroker; skips the test when the broker came from elsewhere."""
    if session_kafka.local is None:
        pytest.skip("the session's broker is not a LocalBroker (env or testcontainers)")
    return session_kafka.local


@pytest.fixture(scope="session")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A broker from the jars with TLS, SASL and ACLs (``broker up --secure``), started on first
    use: its own, whatever broker the session's other tests use."""
    port, controller_port, *secured = free_ports(5)
    home = tmp_path_factory.mktemp("kafka-secure")
    broker = LocalBroker(home, port, controller_port, secure=SecurePorts(*secured))
    try:
        broker.up(timeout_s=180)
        yield broker
    finally:
        broker.down()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `-m "not cluster"` leaves out every test that would start the cluster, marked or not.
    for item in items:
        if "kafka_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three Kafka brokers from the jars (replication 3, min in-sync 2), started on first use."""
    ports = free_ports(6)
    cluster = LocalCluster(tmp_path_factory.mktemp("kafka-cluster"), (*ports[:3],), (*ports[3:],))
    try:
        cluster.up(timeout_s=180)
        yield cluster
    finally:
        cluster.down()


@pytest.fixture
def unique_name() -> str:
    """A fresh name for a test's topics and group."""
    return "t-" + uuid.uuid4().hex[:12]
