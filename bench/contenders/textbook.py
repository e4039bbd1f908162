"""The textbook loop: ``getone`` -> queue of 3 -> 3 workers -> ``send_and_wait`` -> commit each.

What most tutorials show. Every record waits for its own broker acknowledgement and its own
commit, so throughput is bound by round trips, not by CPU.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.contenders.common import ContenderArgs, Countdown, on_stop_signals, parse_args
from bench.contenders.ledger import route

WORKERS = 3
QUEUE_SIZE = 3


async def run(args: ContenderArgs) -> None:
    consumer = AIOKafkaConsumer(
        args.input, bootstrap_servers=args.bootstrap, group_id=args.group,
        enable_auto_commit=False, auto_offset_reset="earliest",
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, enable_idempotence=True)
    await producer.start()
    await consumer.start()
    countdown = Countdown(args.expect)
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=QUEUE_SIZE)
    topics = args.topics

    async def intake() -> None:
        while True:
            await queue.put(await consumer.getone())

    async def worker() -> None:
        while True:
            message = await queue.get()
            out = route(topics, message.key, message.value)  # type: ignore[attr-defined]
            await producer.send_and_wait(out.topic, out.value, key=out.key, headers=out.headers)
            tp = TopicPartition(message.topic, message.partition)  # type: ignore[attr-defined]
            await consumer.commit({tp: message.offset + 1})  # type: ignore[attr-defined]
            countdown.add()

    on_stop_signals(countdown.finished.set)
    tasks = [
        asyncio.create_task(intake()),
        *(asyncio.create_task(worker()) for _ in range(WORKERS)),
    ]
    try:
        await countdown.finished.wait()
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(run(parse_args(__doc__ or "")))
