"""A local Kafka cluster of several KRaft nodes, each broker and controller, for failure tests.

Node ``i`` is a :class:`LocalBroker` in ``<home>/node-<i>`` with node id ``i``; all nodes vote in
one controller quorum. Single nodes can be killed, stopped and started again on their data, so a
test can take a partition's leader away under load and bring it back.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from processor.broker.jars import KAFKA_VERSION, BrokerError, ensure_jars
from processor.broker.local import BrokerStatus, LocalBroker, Starting, default_home
from processor.broker.probe import PartitionState, partition_state, wait_for_brokers
from processor.broker.process import require_java
from processor.broker.settings import cluster_settings, new_cluster_id

__all__ = ["LocalCluster", "PartitionState", "nodes_in", "stepped_ports"]

_LEADER_POLL_S = 0.25
_NODE_HEAP_MB = 384  # three JVMs side by side on a small machine

Progress = Callable[[str], None]


def _no_progress(message: str) -> None:
    """Progress sink for callers that want none."""


def stepped_ports(
    port: int, controller_port: int, nodes: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Client and controller ports of node ``i``: ``port + 2i``, ``controller_port + 2i``.

    Steps of two keep the single broker's adjacent defaults apart: 9092/9093, 9094/9095, …
    """
    steps = [2 * node for node in range(nodes)]
    return tuple(port + step for step in steps), tuple(controller_port + step for step in steps)


@contextlib.contextmanager
def _about_node(index: int) -> Iterator[None]:
    """Name the node in a BrokerError raised within."""
    try:
        yield
    except BrokerError as exc:
        raise BrokerError(f"node {index}: {exc}") from None


def nodes_in(home: Path) -> int:
    """How many nodes a cluster set up in ``home`` has (0 when none was)."""
    count = 0
    while (home / f"node-{count}" / "config" / "server.properties").exists():
        count += 1
    return count


@dataclass(frozen=True, slots=True)
class LocalCluster:
    """Kafka nodes ``0 … n-1`` on ``ports`` and ``controller_ports``, under ``home``."""

    home: Path = field(default_factory=default_home)
    ports: tuple[int, ...] = (9092, 9094, 9096)
    controller_ports: tuple[int, ...] = (9093, 9095, 9097)
    host: str = "127.0.0.1"
    # Broker settings over ours (``server.properties`` keys), for every node.
    overrides: tuple[tuple[str, str], ...] = ()
    heap_mb: int = _NODE_HEAP_MB
    nodes: tuple[LocalBroker, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser().absolute())
        if not self.ports or len(self.ports) != len(self.controller_ports):
            raise BrokerError("a cluster needs one client and one controller port per node")
        every_port = [*self.ports, *self.controller_ports]
        if len(set(every_port)) != len(every_port):
            raise BrokerError(f"the nodes' ports overlap: {', '.join(map(str, every_port))}")
        object.__setattr__(self, "nodes", tuple(map(self._node, range(len(self.ports)))))

    def _node(self, node_id: int) -> LocalBroker:
        settings = cluster_settings(node_id, self.host, list(self.controller_ports))
        return LocalBroker(
            self.home / f"node-{node_id}",
            self.ports[node_id],
            self.controller_ports[node_id],
            self.host,
            overrides=(*settings.items(), *self.overrides),
            heap_mb=self.heap_mb,
        )

    @property
    def bootstrap(self) -> str:
        """Every node's client address, comma-separated."""
        return ",".join(node.bootstrap for node in self.nodes)

    def status(self) -> list[BrokerStatus]:
        """Each node's status, in node order."""
        return [node.status() for node in self.nodes]

    def up(self, timeout_s: float = 60, *, progress: Progress = _no_progress) -> str:
        """Start the nodes that are not running; return the bootstrap list once all are live.

        Raises BrokerError with a readable reason, after stopping the nodes it started.
        """
        self._refuse_other_clusters()
        stopped = [index for index, node in enumerate(self.nodes) if not node.status().running]
        if stopped:
            self._start(stopped, timeout_s, progress)
        else:
            progress(f"already running ({len(self.nodes)} nodes), home {self.home}")
            wait_for_brokers(self.bootstrap, range(len(self.nodes)), timeout_s)
        progress(f"ready (pids {' '.join(str(status.pid) for status in self.status())})")
        return self.bootstrap

    def down(self, timeout_s: float = 30) -> bool:
        """Stop every node; False if none ran.

        One at a time, each with SIGTERM (SIGKILL after ``timeout_s``), while the controller
        quorum can still approve its controlled shutdown; the nodes left after the quorum is
        gone would wait minutes for that approval, so they are killed.
        """
        running = [node for node in self.nodes if node.status().running]
        quorum = len(self.nodes) // 2 + 1
        for left, node in zip(range(len(running), 0, -1), running, strict=True):
            if left >= quorum:
                node.down(timeout_s)
            else:
                node.kill()
        return bool(running)

    def kill(self, node: int) -> bool:
        """Kill node ``node`` at once (SIGKILL), as a crash would; False if it was not running."""
        return self.nodes[node].kill()

    def stop(self, node: int, timeout_s: float = 30) -> bool:
        """Stop node ``node`` cleanly (SIGTERM: it hands its leaderships over first)."""
        return self.nodes[node].down(timeout_s)

    def start(self, node: int, timeout_s: float = 60) -> None:
        """Start node ``node`` again on its data, and return once the cluster lists it as live."""
        if self.nodes[node].status().running:
            wait_for_brokers(self.bootstrap, [node], timeout_s)
        else:
            self._start([node], timeout_s, _no_progress)

    def partition(self, topic: str, partition: int) -> PartitionState:
        """Leader, replicas and in-sync replicas of a partition, by node index."""
        return partition_state(self.bootstrap, topic, partition)

    def leader_of(self, topic: str, partition: int, timeout_s: float = 30) -> int:
        """The node that leads the partition; waits up to ``timeout_s`` while none does."""
        deadline = time.monotonic() + timeout_s
        while (leader := self.partition(topic, partition).leader) is None:
            if time.monotonic() > deadline:
                raise BrokerError(f"{topic}-{partition} has had no leader for {timeout_s:.0f} s")
            time.sleep(_LEADER_POLL_S)
        return leader

    def _start(self, indices: list[int], timeout_s: float, progress: Progress) -> None:
        for index in indices:
            self.nodes[index].refuse_taken_ports()
        require_java()
        progress(f"resolving Kafka {KAFKA_VERSION} jars (Maven fetches them once, ~10 s) ...")
        libs = ensure_jars()
        cluster_id = self._cluster_id()
        progress(f"starting {len(indices)} of {len(self.nodes)} Kafka {KAFKA_VERSION} nodes "
                 f"at {self.bootstrap}, logs {self.home}/node-*/logs")  # fmt: skip
        # Formatting and starting are JVM starts: side by side they take the time of one.
        with ThreadPoolExecutor(len(indices)) as pool:
            spawns = {
                index: pool.submit(self.nodes[index].spawn, libs, cluster_id=cluster_id)
                for index in indices
            }
        try:
            starting: dict[int, Starting] = {}
            for index, spawn in spawns.items():
                with _about_node(index):
                    starting[index] = spawn.result()
            deadline = time.monotonic() + timeout_s
            for index, node in starting.items():
                with _about_node(index):
                    node.wait(max(0.1, deadline - time.monotonic()))
            # Answering is not yet being live: a broker leads nothing until it is unfenced.
            wait_for_brokers(self.bootstrap, indices, max(0.1, deadline - time.monotonic()))
        except (BrokerError, OSError):
            for index in indices:
                self.nodes[index].down()
            raise

    def _cluster_id(self) -> str:
        """The id the formatted nodes share, else a new one."""
        for node in self.nodes:
            meta = node.data_dir / "meta.properties"
            if meta.exists():
                for line in meta.read_text().splitlines():
                    key, _, value = line.partition("=")
                    if key.strip() == "cluster.id":
                        return value.strip()
        return new_cluster_id()

    def _refuse_other_clusters(self) -> None:
        # Static voters come from the config: a node count other than the one the data was
        # formatted with would make a second quorum over the same metadata.
        found = nodes_in(self.home)
        if found and found != len(self.nodes):
            raise BrokerError(
                f"{self.home} holds a cluster of {found} nodes; "
                f"use --nodes {found}, or another home for {len(self.nodes)}"
            )
