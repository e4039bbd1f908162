"""A local single-node Apache Kafka broker (KRaft) run from the official Maven Central jars."""

from processor.broker.local import BrokerError, BrokerStatus, LocalBroker, wait_until_ready

__all__ = ["BrokerError", "BrokerStatus", "LocalBroker", "wait_until_ready"]
