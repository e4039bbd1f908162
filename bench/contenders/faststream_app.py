"""FastStream (``faststream[kafka]``, on aiokafka): one subscriber whose handler validates and
routes the record, then publishes the result with ``broker.publish`` and waits for the broker's
acknowledgement (``no_confirm=False``, the default; ``acks="all"``).

Two acknowledgement policies (``BENCH_FASTSTREAM_ACK``):

- ``ack`` (the default here): at least once. Auto-commit is off and FastStream acknowledges a
  record after its handler returned, which for Kafka is a commit of the consumer's position: one
  commit per record. With ``max_workers`` > 1 FastStream then starts that many consumers in the
  group, each handling one record at a time (at most one busy consumer per partition).
- ``ack_first``: FastStream's default. The record is acknowledged as it is taken: aiokafka's
  auto-commit (every second here, as the other periodic committers) commits what was *consumed*,
  whether or not its handler finished, so a crash loses the records in between (at most once).
  With ``max_workers`` > 1 one consumer feeds that many concurrent handlers, in no order per key.

``BENCH_FASTSTREAM_MAX_WORKERS`` (default 1) is the subscriber's ``max_workers``;
``BENCH_HTTP_WAIT_S`` (default 0) makes the handler first await that long (the async route of the
pipeline curves). It runs until SIGTERM (the harness stops it once the group has committed all).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from typing import Any

from bench.contenders.common import ContenderArgs, on_stop_signals, parse_args
from bench.contenders.ledger import route

ACK_ENV, MAX_WORKERS_ENV, WAIT_ENV = (
    "BENCH_FASTSTREAM_ACK",
    "BENCH_FASTSTREAM_MAX_WORKERS",
    "BENCH_HTTP_WAIT_S",
)
COMMIT_INTERVAL_MS = 1000
# Typed as Any: the peer is optional, so type checking must not depend on it being installed.
_faststream: Any = importlib.import_module("faststream")
_kafka: Any = importlib.import_module("faststream.kafka")
THE_MESSAGE = _faststream.Context("message")  # the handler's parameter: FastStream's message


def build(args: ContenderArgs, ack: str, max_workers: int, wait_s: float) -> Any:
    # Its logger at WARNING, its access logs (two lines per record) at DEBUG: neither they nor
    # the rebalance notes are written, warnings and errors are.
    logger = logging.getLogger("bench.faststream")
    logger.setLevel(logging.WARNING)
    broker = _kafka.KafkaBroker(args.bootstrap, acks="all", logger=logger, log_level=logging.DEBUG)
    topics = args.topics
    policy = _faststream.AckPolicy.ACK if ack == "ack" else _faststream.AckPolicy.ACK_FIRST

    @broker.subscriber(  # type: ignore[untyped-decorator]
        args.input, group_id=args.group, auto_offset_reset="earliest", ack_policy=policy,
        max_workers=max_workers, auto_commit_interval_ms=COMMIT_INTERVAL_MS,
    )  # fmt: skip
    async def handle(body: Any, message: Any = THE_MESSAGE) -> None:
        if wait_s:
            await asyncio.sleep(wait_s)
        raw = message.raw_message
        out = route(topics, raw.key, raw.value)
        headers = {name: value.decode(errors="replace") for name, value in out.headers}
        await broker.publish(out.value, out.topic, key=out.key, headers=headers)

    return broker


async def run(args: ContenderArgs) -> None:
    ack = os.environ.get(ACK_ENV, "ack")
    if ack not in ("ack", "ack_first"):
        raise SystemExit(f"{ACK_ENV} must be ack or ack_first, not {ack!r}")
    max_workers = int(os.environ.get(MAX_WORKERS_ENV, "1"))
    wait_s = float(os.environ.get(WAIT_ENV) or 0)
    broker = build(args, ack, max_workers, wait_s)
    stop = asyncio.Event()
    on_stop_signals(stop.set)
    await broker.start()
    try:
        await stop.wait()
    finally:
        await broker.stop()  # stops the consumers; with auto-commit their last commit


if __name__ == "__main__":
    asyncio.run(run(parse_args(__doc__ or "")))
