"""A straightforward aiokafka loop: ``getmany``, one ``send`` per record, gather, commit the batch.

The usual first improvement over the textbook loop: one round trip per poll instead of per
record, at the cost of a whole batch waiting for its slowest acknowledgement.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.contenders.common import ContenderArgs, Countdown, on_stop_signals, parse_args
from bench.contenders.ledger import route


async def run(args: ContenderArgs) -> None:
    consumer = AIOKafkaConsumer(
        args.input, bootstrap_servers=args.bootstrap, group_id=args.group,
        enable_auto_commit=False, auto_offset_reset="earliest",
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, enable_idempotence=True)
    await producer.start()
    await consumer.start()
    countdown = Countdown(args.expect)
    on_stop_signals(countdown.finished.set)
    topics = args.topics
    try:
        while not countdown.finished.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            pending = []
            for messages in batches.values():
                for message in messages:
                    out = route(topics, message.key, message.value)
                    pending.append(
                        await producer.send(out.topic, out.value, key=out.key, headers=out.headers)
                    )
            await asyncio.gather(*pending)
            if batches:
                await consumer.commit({tp: ms[-1].offset + 1 for tp, ms in batches.items()})
                countdown.add(sum(len(ms) for ms in batches.values()))
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(run(parse_args(__doc__ or "")))
