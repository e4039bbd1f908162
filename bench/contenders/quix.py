"""Quix Streams: an ``Application`` with a streaming dataframe, one branch per output ``to_topic``.

Its default guarantee (at-least-once: a checkpoint produces, flushes, then commits); the commit
interval is set to 1 s, the processor's, instead of Quix's 5 s so both commit equally often.
The input key is the account, so outputs keep it, as the processor's outputs do.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.contenders.common import ContenderArgs, parse_args
from bench.contenders.ledger import Routed, route

COMMIT_INTERVAL_S = 1.0
# Typed as Any: the peer is optional, so type checking must not depend on it being installed.
Application: Any = importlib.import_module("quixstreams").Application


def run(args: ContenderArgs) -> None:
    app = Application(
        broker_address=args.bootstrap, consumer_group=args.group, auto_offset_reset="earliest",
        commit_interval=COMMIT_INTERVAL_S, loglevel="WARNING",
        producer_extra_config={"acks": "all"}, auto_create_topics=False,
    )  # fmt: skip
    source = app.topic(args.input, value_deserializer="bytes", key_deserializer="bytes")
    topics = args.topics
    seen = [0]

    def count(value: Any) -> None:
        seen[0] += 1
        if args.expect and seen[0] == args.expect:
            app.stop()  # the poll loop ends after this record; closing commits the checkpoint

    sdf = app.dataframe(source)
    sdf = sdf.update(count)

    def to_routed(value: bytes) -> Routed:
        return route(topics, None, value)

    routed = sdf.apply(to_routed)
    for name in (topics.additions, topics.refunds, topics.dlq):
        out = app.topic(name, value_serializer="bytes", key_serializer="bytes")
        branch = routed.filter(lambda r, name=name: isinstance(r, Routed) and r.topic == name)
        branch.apply(lambda r: r.value).to_topic(out)
    app.run()


if __name__ == "__main__":
    run(parse_args(__doc__ or ""))
