"""A local Apache Kafka broker or cluster (KRaft) run from the official Maven Central jars."""

from processor.broker.cluster import LocalCluster, PartitionState
from processor.broker.local import (
    KAFKA_VERSION,
    BrokerError,
    BrokerStatus,
    LocalBroker,
    default_home,
    wait_until_ready,
)

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "BrokerStatus",
    "LocalBroker",
    "LocalCluster",
    "PartitionState",
    "default_home",
    "wait_until_ready",
]
