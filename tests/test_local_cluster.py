"""The local three-broker cluster: replication, a leader's crash and return, transactions, the CLI.

The CLI tests come first and start their own cluster before the session's exists, so that two
clusters never start side by side on a small machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from processor.broker import LocalCluster
from processor.broker.process import alive
from tests.conftest import free_ports
from tests.kafka_support import wait_until
from tests.test_local_broker import run_cli

pytestmark = pytest.mark.cluster

FIRST_TRANSACTION_TIMEOUT_S = 60
REJOIN_TIMEOUT_S = 60


def cli_flags(home: Path) -> tuple[list[str], int]:
    """``--home``, ``--port P`` and ``--controller-port P+1``, where P to P+5 (the ports of three
    nodes, in steps of two) are all free; and P."""
    for _ in range(50):
        (port,) = free_ports(1)
        with contextlib.ExitStack() as stack:
            try:
                for offset in range(6):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", port + offset))
            except OSError:
                continue
        return ["--home", str(home), "--port", str(port), "--controller-port", str(port + 1)], port
    raise RuntimeError("no six consecutive free ports found")


def test_cli_up_prints_every_node_and_down_stops_them_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags, port = cli_flags(tmp_path)
    try:
        assert run_cli("broker", "up", "--nodes", "3", *flags) == 0
        expected = ",".join(f"127.0.0.1:{port + step}" for step in (0, 2, 4))
        assert capsys.readouterr().out == f"{expected}\n"

        assert run_cli("broker", "status", *flags) == 0  # finds the three nodes in --home
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in lines] == ["running"] * 3
        assert [line.rsplit("/", 1)[1] for line in lines] == ["node-0", "node-1", "node-2"]
        pids = [int(line.split()[1].removeprefix("pid=")) for line in lines]
    finally:
        assert run_cli("broker", "down", *flags) == 0

    assert not any(alive(pid) for pid in pids)
    assert run_cli("broker", "status", *flags) == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"not running home={tmp_path}/node-{node}" for node in range(3)]


def test_cli_refuses_a_taken_port_of_any_node_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags, port = cli_flags(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 4))  # the third node's client port
        taken.listen()

        assert run_cli("broker", "up", "--nodes", "3", *flags) == 1

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"port {port + 4} " in error


def test_a_home_holding_three_nodes_refuses_another_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for node in range(3):
        (tmp_path / f"node-{node}" / "config").mkdir(parents=True)
        (tmp_path / f"node-{node}" / "config" / "server.properties").write_text("")
    flags, _ = cli_flags(tmp_path)

    assert run_cli("broker", "up", "--nodes", "2", *flags) == 1

    assert "holds a cluster of 3 nodes; use --nodes 3" in capsys.readouterr().err


async def create_topic(cluster: LocalCluster, name: str, replicas: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, replicas)])
    finally:
        await admin.close()
    await asyncio.to_thread(cluster.leader_of, name, 0)


@contextlib.asynccontextmanager
async def producer_for(cluster: LocalCluster, **config: object) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all", **config)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def read_values(
    cluster: LocalCluster, topic: str, count: int, isolation_level: str = "read_uncommitted"
) -> list[bytes]:
    """The first ``count`` values of ``topic``'s partition 0 (fewer if they don't come in 30 s)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=cluster.bootstrap,
        enable_auto_commit=False,
        isolation_level=isolation_level,
    )
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        values: list[bytes] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(values) < count and loop.time() < deadline:
            batches = await consumer.getmany(partition, timeout_ms=1000)
            values += [record.value for record in batches.get(partition, [])]
        return values
    finally:
        await consumer.stop()


def test_every_node_runs_in_its_own_home(kafka_cluster: LocalCluster) -> None:
    statuses = kafka_cluster.status()

    assert [status.running for status in statuses] == [True, True, True]
    assert [status.home for status in statuses] == [
        kafka_cluster.home / f"node-{node}" for node in range(3)
    ]
    assert len({status.pid for status in statuses}) == 3


async def test_a_topic_with_replication_3_has_three_in_sync_replicas(
    kafka_cluster: LocalCluster, unique_name: str
) -> None:
    await create_topic(kafka_cluster, unique_name)

    state = await asyncio.to_thread(kafka_cluster.partition, unique_name, 0)

    assert sorted(state.replicas) == sorted(state.in_sync) == [0, 1, 2]


async def test_group_offsets_are_kept_on_three_replicas(
    kafka_cluster: LocalCluster, unique_name: str
) -> None:
    await create_topic(kafka_cluster, unique_name)
    async with producer_for(kafka_cluster) as producer:
        await producer.send_and_wait(unique_name, b"one")
    consumer = AIOKafkaConsumer(
        unique_name,
        bootstrap_servers=kafka_cluster.bootstrap,
        group_id=unique_name,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer.getone()
        await consumer.commit()
    finally:
        await consumer.stop()

    state = await asyncio.to_thread(kafka_cluster.partition, "__consumer_offsets", 0)

    assert sorted(state.replicas) == [0, 1, 2]


async def test_killing_the_leader_moves_leadership_and_acks_all_writes_go_on(
    kafka_cluster: LocalCluster, unique_name: str
) -> None:
    await create_topic(kafka_cluster, unique_name)
    leader = await asyncio.to_thread(kafka_cluster.leader_of, unique_name, 0)
    try:
        async with producer_for(kafka_cluster) as producer:
            await producer.send_and_wait(unique_name, b"before")
            assert await asyncio.to_thread(kafka_cluster.kill, leader)

            await producer.send_and_wait(unique_name, b"after")  # two in sync: enough

        state = await asyncio.to_thread(kafka_cluster.partition, unique_name, 0)
        assert state.leader not in (None, leader)
        assert leader not in state.in_sync
        assert len(state.in_sync) == 2
        assert await read_values(kafka_cluster, unique_name, 2) == [b"before", b"after"]
    finally:
        await asyncio.to_thread(kafka_cluster.start, leader)


async def test_a_restarted_node_catches_up_and_rejoins_the_in_sync_replicas(
    kafka_cluster: LocalCluster, unique_name: str
) -> None:
    await create_topic(kafka_cluster, unique_name)
    leader = await asyncio.to_thread(kafka_cluster.leader_of, unique_name, 0)
    await asyncio.to_thread(kafka_cluster.kill, leader)
    async with producer_for(kafka_cluster) as producer:
        await producer.send_and_wait(unique_name, b"while it was down")

    await asyncio.to_thread(kafka_cluster.start, leader)

    async def back_in_sync() -> bool:
        state = await asyncio.to_thread(kafka_cluster.partition, unique_name, 0)
        return leader in state.in_sync

    assert await wait_until(back_in_sync, REJOIN_TIMEOUT_S, interval_s=0.5)


async def commit_in_one_transaction(
    cluster: LocalCluster, topic: str, transactional_id: str, values: list[bytes]
) -> None:
    """Commit ``values`` in one transaction, again with a new producer while the cluster is
    still creating its transaction log (NotEnoughReplicas and the like), for a bounded time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FIRST_TRANSACTION_TIMEOUT_S
    while True:
        try:
            async with producer_for(cluster, transactional_id=transactional_id) as producer:
                await producer.begin_transaction()
                for value in values:
                    await producer.send(topic, value)
                await producer.commit_transaction()
            return
        except KafkaError:
            if loop.time() > deadline:
                raise
        await asyncio.sleep(1)


async def test_a_transactional_producer_commits_on_the_cluster(
    kafka_cluster: LocalCluster, unique_name: str
) -> None:
    await create_topic(kafka_cluster, unique_name)

    await commit_in_one_transaction(kafka_cluster, unique_name, unique_name, [b"a", b"b"])

    committed = await read_values(kafka_cluster, unique_name, 2, "read_committed")
    assert committed == [b"a", b"b"]
    state = await asyncio.to_thread(kafka_cluster.partition, "__transaction_state", 0)
    assert sorted(state.replicas) == [0, 1, 2]
