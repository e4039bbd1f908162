"""Write raw record batch bytes to a real broker, past aiokafka's producer.

aiokafka's producer only writes ``str`` header keys, encoded as UTF-8, so it cannot write the
hostile records (e.g. a header key that is not UTF-8) the processor must survive. The broker
keeps such keys as they are, so a batch from ``tests.batches.encode_batch`` sent in a produce
request of our own puts them in a topic exactly as a foreign client would.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

from aiokafka import AIOKafkaClient, TopicPartition
from aiokafka.protocol.produce import ProduceRequest

ALL_REPLICAS = -1  # acks=all: the batch is on every in-sync replica when the call returns
REQUEST_TIMEOUT_MS = 30_000
LEADER_WAIT_S = 30.0
METADATA_RETRY_S = 0.2
# Refusals that mean nothing was written, so sending again cannot duplicate: a partition just
# created may not be served by its leader yet (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE,
# NOT_LEADER_OR_FOLLOWER).
NOT_WRITTEN_YET = frozenset({3, 5, 6})


async def produce_raw(bootstrap: str, topic: str, partition: int, batch: bytes) -> None:
    """Append ``batch`` (exactly one v2 batch, as encoded) to ``topic``'s ``partition``.

    The batch goes as is, under no transactional id, so its producer id should be -1. Its base
    offset must be 0: the broker sets the real one (the deltas inside stay). Raises
    AssertionError naming the error code when the broker refuses it.
    """
    # Brokers refuse (INVALID_RECORD) a produced batch whose base offset is not 0.
    assert struct.unpack_from(">q", batch)[0] == 0, "produce_raw takes batches with base offset 0"
    tp = TopicPartition(topic, partition)
    request = ProduceRequest(
        transactional_id=None,
        required_acks=ALL_REPLICAS,
        timeout=REQUEST_TIMEOUT_MS,
        topics=[(topic, [(partition, batch)])],
    )
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        deadline = time.monotonic() + LEADER_WAIT_S
        while True:
            response = await client.send(await leader_for(client, tp), request)
            error_code = _error_code(response)
            if error_code not in NOT_WRITTEN_YET or time.monotonic() > deadline:
                break
            await asyncio.sleep(METADATA_RETRY_S)
        assert error_code == 0, f"produce to {tp} failed: error {error_code}"
    finally:
        await client.close()


def _error_code(response: Any) -> int:
    """The error code of the one partition a produce request of ours wrote to."""
    [(_, [(_, error_code, *_)])] = response.topics
    return int(error_code)


async def leader_for(client: AIOKafkaClient, tp: TopicPartition) -> int:
    """The node id leading ``tp``, waiting for metadata of a topic that was just created."""
    client.add_topic(tp.topic)  # an AIOKafkaClient fetches metadata only for topics it tracks
    deadline = time.monotonic() + LEADER_WAIT_S
    while True:
        await client.force_metadata_update()
        leader = client.cluster.leader_for_partition(tp)
        if leader is not None and leader >= 0:  # -1: the partition has no leader right now
            return int(leader)
        assert time.monotonic() < deadline, f"no leader for {tp} after {LEADER_WAIT_S}s"
        await asyncio.sleep(METADATA_RETRY_S)
