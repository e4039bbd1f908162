"""Ask running brokers over Kafka's protocol: do they answer, which brokers are live, who leads.

Each call runs its own event loop in a worker thread, so it works from plain code and leaves the
caller's event loop alone; from async code, call it through ``asyncio.to_thread`` to keep the loop
responsive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from processor.broker.jars import BrokerError

_ATTEMPT_TIMEOUT_S = 3.0
_RETRY_PAUSE_S = 0.5
_DESCRIBE_TIMEOUT_S = 10.0
_NO_LEADER = -1

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PartitionState:
    """One partition as the cluster's metadata describes it; brokers by node id."""

    leader: int | None
    replicas: tuple[int, ...]
    in_sync: tuple[int, ...]


class _NotYet(KafkaError):  # type: ignore[misc]  # aiokafka is untyped
    """The brokers answer, but not yet what we wait for."""


def wait_until_ready(bootstrap: str, timeout_s: float) -> None:
    """Block until a Kafka metadata request answers at ``bootstrap``.

    Retries until ``timeout_s`` has passed, then raises BrokerError.
    """
    in_thread(_poll(bootstrap, timeout_s, _list_topics))


def wait_for_brokers(bootstrap: str, node_ids: Collection[int], timeout_s: float) -> None:
    """Block until the cluster's metadata lists every broker in ``node_ids`` as live.

    A broker is listed once it has registered with the controller and is not fenced, that is,
    once it can lead partitions and join their in-sync replicas.
    """

    async def all_listed(admin: AIOKafkaAdminClient) -> None:
        cluster = await admin.describe_cluster()
        missing = set(node_ids) - {broker["node_id"] for broker in cluster["brokers"]}
        if missing:
            raise _NotYet(f"brokers {sorted(missing)} are not live yet")

    in_thread(_poll(bootstrap, timeout_s, all_listed))


def partition_state(bootstrap: str, topic: str, partition: int) -> PartitionState:
    """The leader, replicas and in-sync replicas of ``topic``'s ``partition`` now."""

    async def describe(admin: AIOKafkaAdminClient) -> PartitionState:
        (described,) = await admin.describe_topics([topic])
        # A topic created a moment ago may not have reached the answering broker yet.
        if described["error_code"]:
            raise _NotYet(f"topic {topic!r}: metadata error code {described['error_code']}")
        for state in described["partitions"]:
            if state["partition"] == partition:
                return _partition_state(state)
        raise _NotYet(f"topic {topic!r} has no partition {partition}")

    return in_thread(_poll(bootstrap, _DESCRIBE_TIMEOUT_S, describe))


def _partition_state(state: dict[str, Any]) -> PartitionState:
    leader = state["leader"]
    return PartitionState(
        None if leader == _NO_LEADER else leader, tuple(state["replicas"]), tuple(state["isr"])
    )


def in_thread(question: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-probe") as pool:
        return pool.submit(asyncio.run, question).result()


async def _list_topics(admin: AIOKafkaAdminClient) -> None:
    await admin.list_topics()


async def _poll(
    bootstrap: str, timeout_s: float, question: Callable[[AIOKafkaAdminClient], Awaitable[T]]
) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    with _quiet_client_logs():
        while True:
            attempt_s = max(0.1, min(_ATTEMPT_TIMEOUT_S, deadline - loop.time()))
            try:
                return await asyncio.wait_for(_ask(bootstrap, question), attempt_s)
            except (KafkaError, OSError) as exc:  # TimeoutError is an OSError
                if loop.time() + _RETRY_PAUSE_S >= deadline:
                    raise BrokerError(_gave_up(bootstrap, timeout_s, exc)) from None
            await asyncio.sleep(_RETRY_PAUSE_S)


def _gave_up(bootstrap: str, timeout_s: float, last: Exception) -> str:
    reason = str(last) or type(last).__name__
    if isinstance(last, _NotYet):
        return f"{reason} at {bootstrap} after {timeout_s:.0f} s"
    return f"no Kafka broker answered at {bootstrap} within {timeout_s:.0f} s ({reason})"


async def _ask(bootstrap: str, question: Callable[[AIOKafkaAdminClient], Awaitable[T]]) -> T:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await admin.start()
        return await question(admin)
    finally:
        await admin.close()


@contextlib.contextmanager
def _quiet_client_logs() -> Iterator[None]:
    # Refused connections are the expected answer while a broker starts; don't log each one.
    client_logger = logging.getLogger("aiokafka")
    level = client_logger.level
    client_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        client_logger.setLevel(level)
