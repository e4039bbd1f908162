"""The broker's configuration files and its java command line."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from processor.broker.jars import BrokerError


def server_properties(
    host: str,
    port: int,
    controller_port: int,
    data: Path,
    overrides: Mapping[str, str] | None = None,
) -> str:
    """``server.properties`` of a single-node KRaft broker; ``overrides`` win over its defaults."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        # Topics are created on purpose (`processor topics ensure`), never by a typo.
        "auto.create.topics.enable": "false",
    }
    settings.update(overrides or {})
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def cluster_settings(node_id: int, host: str, controller_ports: list[int]) -> dict[str, str]:
    """What a node of a local cluster sets over :func:`server_properties`.

    Every node is a voter of a static controller quorum (``controller.quorum.voters``): the
    cluster's members are fixed, so the dynamic quorum's extra format step buys nothing here.
    Replication is as in production, three copies of which two must acknowledge, so that one
    broker may fail under ``acks=all`` and transactions.
    """
    replicas = min(3, len(controller_ports))
    in_sync = str(max(1, replicas - 1))
    voters = ",".join(f"{node}@{host}:{port}" for node, port in enumerate(controller_ports))
    return {
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "default.replication.factor": str(replicas),
        "min.insync.replicas": in_sync,
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": in_sync,
        # 50 by default: three times as many replicas to create before the first transaction.
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": in_sync,
        # A killed broker loses its partitions after 6 s without a heartbeat (9 s by default).
        "broker.heartbeat.interval.ms": "1000",
        "broker.session.timeout.ms": "6000",
    }


def new_cluster_id() -> str:
    """A cluster id as ``kafka-storage random-uuid`` makes one, without starting a JVM."""
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):  # Kafka avoids these: they read as options
            return cluster_id


def log4j_config(log_file: Path) -> str:
    return "\n".join([
        "status = warn",
        "appender.file.type = File",
        "appender.file.name = file",
        f"appender.file.fileName = {log_file}",
        "appender.file.layout.type = PatternLayout",
        "appender.file.layout.pattern = [%d] %p %m (%c)%n",
        "rootLogger.level = info",
        "rootLogger.appenderRef.file.ref = file",
        "logger.kafka.name = kafka",
        "logger.kafka.level = info",
        "logger.state.name = state.change.logger",
        "logger.state.level = warn",
        "",
    ])  # fmt: skip


MIN_JAVA_VERSION = 17


def java_path() -> str:
    """Where ``java`` is: the one check that it is there at all."""
    java = shutil.which("java")
    if java is None:
        raise BrokerError(
            f"'java' is not on PATH: the local Kafka broker needs Java {MIN_JAVA_VERSION}+ "
            "(and Maven 'mvn', once, to fetch its jars)"
        )
    return java


def java_command(libs: Path, config: Path, heap_mb: int = 512) -> list[str]:
    return [
        java_path(), f"-Xmx{heap_mb}m", f"-Xms{min(heap_mb, 256)}m", "-XX:+UseSerialGC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={config / 'log4j2.properties'}",
        "-cp", f"{libs}/*",
    ]  # fmt: skip
