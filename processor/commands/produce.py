"""``processor produce FILE...``: send records to the input topic, every one acknowledged."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from processor.commands.common import (
    EXIT_USAGE,
    SEND_CHUNK,
    add_settings_flags,
    seconds,
    settings_from,
)
from processor.commands.progress import Progress
from processor.commands.scan import UnknownTopicError
from processor.commands.sources import Format, Line, read_records
from processor.config import Settings, kafka_client_options
from processor.connect import start_client
from processor.pipeline import PipelineLike
from processor.security.permissions import Need

EPILOG = """examples:
  processor produce examples/transactions.jsonl
  processor produce examples/transactions.csv --rate 100
  cat events.jsonl | processor produce - --key-field account
  processor produce --raw examples/raw-errors.txt"""


def register(commands: Any) -> None:

    parser = commands.add_parser(
        "produce",
        help="send records from files to the input topic",
        description="Send JSON Lines, a JSON array or CSV (header row; cells typed by the "
        "pipeline's model) to the input topic, with acks=all. Lines that cannot be parsed are "
        "reported with their line number and skipped. Exit 0 only when every record was "
        "acknowledged and no line was skipped.",
        epilog=EPILOG,
        usage="%(prog)s FILE... [--topic T] [--key-field F] [--rate N] [--format F] [--raw] "
        "[settings]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="files to send; - is stdin")
    parser.add_argument("--topic", help="topic to send to (default: the input topic)")
    parser.add_argument("--key-field", default="account", help="field used as the record key")
    parser.add_argument("--rate", type=seconds, default=0, help="records per second (0: no limit)")
    parser.add_argument(
        "--format",
        dest="fmt",
        default="auto",
        choices=["auto", "jsonl", "json", "csv", "raw"],
        help="input format (auto: .json array, .csv, .txt raw lines; JSON Lines otherwise)",
    )
    parser.add_argument(
        "--raw",
        action="store_const",
        const="raw",
        dest="fmt",
        help="send each line unchanged, bytes as they are (same as --format raw)",
    )
    add_settings_flags(parser)
    parser.set_defaults(func=_run)


@dataclass
class Tally:
    sent: int = 0
    failed: int = 0
    skipped: int = 0

    def line(self, seconds: float) -> str:
        return (
            f"sent {self.sent}, failed {self.failed}, skipped {self.skipped} lines, "
            f"in {seconds:.1f} s"
        )


def _run(args: argparse.Namespace) -> int:

    unreadable = next((problem for path in args.files if (problem := _unreadable(path))), None)
    if unreadable:
        return _usage_error(unreadable)
    settings, pipeline = settings_from(args)
    began = time.monotonic()
    try:
        tally = asyncio.run(produce_files(settings, pipeline, args))
    except OSError as exc:  # a file that vanished or failed while being read
        return _usage_error(f"cannot read {exc.filename}: {exc.strerror}")
    except UnknownTopicError as exc:
        return _usage_error(str(exc))
    print(tally.line(time.monotonic() - began))
    return 0 if tally.failed == 0 and tally.skipped == 0 else 1


def _usage_error(message: str) -> int:

    print(f"processor produce: {message}", file=sys.stderr)
    return EXIT_USAGE


def _unreadable(path: str) -> str | None:
    """Why ``path`` cannot be read, checked before anything is sent."""
    if path == "-":
        return None
    try:
        with open(path, "rb"):
            return None
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"


async def check_topics_exist(producer: AIOKafkaProducer, topics: Iterable[str]) -> None:
    """Raise :class:`UnknownTopicError` for the first topic the cluster does not have.

    Checked up front, so a typo is one clear error rather than a broker that creates the topic
    or a long wait for metadata that never comes.
    """
    known = (await producer.client.fetch_all_metadata()).topics()
    for topic in topics:
        if topic not in known:
            raise UnknownTopicError(f"topic {topic!r} does not exist")


async def produce_files(
    settings: Settings, pipeline: PipelineLike, args: argparse.Namespace
) -> Tally:
    topic = args.topic or settings.input_topic
    fmt: Format = args.fmt
    producer = AIOKafkaProducer(
        **kafka_client_options(settings), acks="all", enable_idempotence=True, linger_ms=10
    )
    await start_client(producer, settings, [Need("WRITE", topic)])
    tally, pacer = Tally(), _Pacer(args.rate)
    progress = Progress("sent")
    try:
        await check_topics_exist(producer, [topic])
        pending: list[asyncio.Future[Any]] = []
        for path in args.files:
            for line in read_records(path, fmt, pipeline.model, args.key_field):
                if line.error:
                    tally.skipped += 1
                    print(f"{line.where}: skipped: {line.error}", file=sys.stderr)
                    continue
                await pacer.wait()
                pending.append(await _send(producer, topic, line))
                if len(pending) >= SEND_CHUNK:
                    await _settle(pending, tally)
                    progress.show(tally.sent)
        await _settle(pending, tally)
    finally:
        await producer.stop()
        progress.done()
    return tally


async def _send(producer: AIOKafkaProducer, topic: str, line: Line) -> Any:
    try:
        return await producer.send(topic, line.value, key=line.key)
    except KafkaError as exc:
        print(f"{line.where}: not sent: {exc!r}", file=sys.stderr)
        failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        failed.set_exception(exc)
        return failed


async def _settle(pending: list[asyncio.Future[Any]], tally: Tally) -> None:
    for result in await asyncio.gather(*pending, return_exceptions=True):
        if isinstance(result, BaseException):
            tally.failed += 1
        else:
            tally.sent += 1
    pending.clear()


class _Pacer:
    """Keeps the average send rate at or under ``rate`` records a second."""

    def __init__(self, rate: float) -> None:
        self._interval_s = 1 / rate if rate > 0 else 0.0
        self._next = time.monotonic()

    async def wait(self) -> None:
        if not self._interval_s:
            return
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(self._next, now) + self._interval_s
