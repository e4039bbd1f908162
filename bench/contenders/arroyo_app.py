"""Sentry's arroyo: a ``StreamProcessor`` with RunTask (validate and route) -> Produce ->
CommitOffsets, the shape its docs show. ``Produce`` writes to one fixed topic, so the producer
it is given routes each payload to the topic the task chose. Commits once per second (default).
"""

from __future__ import annotations

import importlib
import signal
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from functools import partial
from typing import Any

from bench.contenders.common import ContenderArgs, parse_args
from bench.contenders.ledger import LedgerTopics, Routed, route

# Typed as Any: the peer is optional, so type checking must not depend on it being installed.
_abstract: Any = importlib.import_module("arroyo.backends.abstract")
_kafka: Any = importlib.import_module("arroyo.backends.kafka")
_config: Any = importlib.import_module("arroyo.backends.kafka.configuration")
_processing: Any = importlib.import_module("arroyo.processing")
_strategies: Any = importlib.import_module("arroyo.processing.strategies")
_types: Any = importlib.import_module("arroyo.types")
KafkaConsumer = _kafka.KafkaConsumer
KafkaPayload, KafkaProducer = _kafka.KafkaPayload, _kafka.KafkaProducer
StreamProcessor, Topic = _processing.StreamProcessor, _types.Topic
CommitOffsets, Produce, RunTask = (
    _strategies.CommitOffsets,
    _strategies.Produce,
    _strategies.RunTask,
)


class RoutingProducer(_abstract.Producer):  # type: ignore[misc]
    """Sends a :class:`Routed` payload to the topic it names (``Produce`` passes one topic)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def produce(self, destination: Any, payload: Routed) -> Future[Any]:
        message = KafkaPayload(payload.key, payload.value or b"", payload.headers)
        future: Future[Any] = self.inner.produce(Topic(payload.topic), message)
        return future

    def close(self) -> Future[None]:
        closed: Future[None] = self.inner.close()
        return closed


class CountDelivered(_strategies.ProcessingStrategy):  # type: ignore[misc]
    """Counts messages whose output the broker acknowledged, on their way to the commit step."""

    def __init__(self, next_step: Any, on_count: Any) -> None:
        self.next_step = next_step
        self.on_count = on_count

    def submit(self, message: Any) -> None:
        self.next_step.submit(message)
        self.on_count()

    def poll(self) -> None:
        self.next_step.poll()

    def join(self, timeout: float | None = None) -> None:
        self.next_step.join(timeout)

    def close(self) -> None:
        self.next_step.close()

    def terminate(self) -> None:
        self.next_step.terminate()


def ledger_task(topics: LedgerTopics, message: Any) -> Routed:
    """Validate and route one message (module level: a process pool can pickle it)."""
    payload = message.payload
    return route(topics, payload.key, payload.value)


class LedgerStrategy(_strategies.ProcessingStrategyFactory):  # type: ignore[misc]
    """``first_step`` (given the step it feeds) -> Produce -> count -> CommitOffsets; the first
    step defaults to ``RunTask(ledger_task)``."""

    def __init__(
        self,
        topics: LedgerTopics,
        producer: RoutingProducer,
        on_count: Any,
        first_step: Callable[[Any], Any] | None = None,
    ) -> None:
        self.topics = topics
        self.producer = producer
        self.on_count = on_count
        self.first_step = first_step or (lambda then: RunTask(partial(ledger_task, topics), then))

    def create_with_partitions(self, commit: Any, partitions: Mapping[Any, int]) -> Any:
        commit_step = CountDelivered(CommitOffsets(commit), self.on_count)
        return self.first_step(Produce(self.producer, Topic("routed"), commit_step))


def run(args: ContenderArgs, first_step: Callable[[Any], Any] | None = None) -> None:
    config = {"bootstrap.servers": args.bootstrap}
    consumer = KafkaConsumer(
        _config.build_kafka_consumer_configuration(
            config, group_id=args.group, auto_offset_reset="earliest"
        )
    )
    producer = RoutingProducer(
        KafkaProducer(_config.build_kafka_configuration({**config, "acks": "all"}))
    )
    seen = [0]
    processor: Any = None

    def on_count() -> None:
        seen[0] += 1
        if args.expect and seen[0] == args.expect:
            processor.signal_shutdown()  # closing joins the steps: produce, then commit

    factory = LedgerStrategy(args.topics, producer, on_count, first_step)
    processor = StreamProcessor(consumer, Topic(args.input), factory)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: processor.signal_shutdown())
    processor.run()
    producer.close().result()


if __name__ == "__main__":
    run(parse_args(__doc__ or ""))
