"""A local single-node Apache Kafka broker (KRaft) run from the official Maven Central jars."""

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
    "default_home",
    "wait_until_ready",
]
