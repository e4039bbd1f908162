"""Faust (faust-streaming): one agent over the input stream that sends each result with
``topic.send``. Faust commits acknowledged offsets itself; its commit interval is set to 1 s
(the processor's) instead of 2.8 s. It stops itself with SIGTERM once ``--expect`` are done.
"""

from __future__ import annotations

import importlib
import os
import signal
from typing import Any

from bench.contenders.common import ContenderArgs, parse_args
from bench.contenders.ledger import route

COMMIT_INTERVAL_S = 1.0
# Typed as Any: the peer is optional, so type checking must not depend on it being installed.
faust: Any = importlib.import_module("faust")


def build(args: ContenderArgs) -> Any:
    app = faust.App(
        args.group, broker=f"kafka://{args.bootstrap}", web_enabled=False,
        broker_commit_interval=COMMIT_INTERVAL_S, producer_acks=-1, topic_partitions=4,
        consumer_auto_offset_reset="earliest", store="memory://",
    )  # fmt: skip
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
           "value_serializer": "raw"}  # fmt: skip
    source = app.topic(args.input, **raw)
    topics = args.topics
    outputs = {
        name: app.topic(name, **raw) for name in (topics.additions, topics.refunds, topics.dlq)
    }
    seen = [0]

    @app.agent(source)  # type: ignore[untyped-decorator]
    async def process(stream: Any) -> None:
        async for event in stream.events():
            out = route(topics, event.key, event.value)
            await outputs[out.topic].send(key=out.key, value=out.value, headers=out.headers)
            seen[0] += 1
            if args.expect and seen[0] == args.expect:
                os.kill(os.getpid(), signal.SIGTERM)  # the worker's clean shutdown commits

    return app


def run(args: ContenderArgs) -> None:
    app = build(args)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    run(parse_args(__doc__ or ""))
