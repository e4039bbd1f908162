"""What every contender module shares: its command line and a clean stop on SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass

from bench.contenders.ledger import LedgerTopics


@dataclass(frozen=True, slots=True)
class ContenderArgs:
    bootstrap: str
    input: str
    group: str
    expect: int

    @property
    def topics(self) -> LedgerTopics:
        return LedgerTopics.for_input(self.input)


def parse_args(description: str, argv: list[str] | None = None) -> ContenderArgs:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--input", required=True, help="input topic; outputs are <input>.*")
    parser.add_argument("--group", required=True, help="consumer group (fresh per run)")
    parser.add_argument("--expect", type=int, default=0, help="exit after this many (0: never)")
    args = parser.parse_args(argv)
    return ContenderArgs(args.bootstrap, args.input, args.group, args.expect)


def on_stop_signals(callback: Callable[[], None]) -> None:
    """Call ``callback`` on SIGTERM or SIGINT (inside a running event loop)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, callback)


class Countdown:
    """Counts processed records and says when ``expect`` of them are done (never if 0)."""

    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.done = 0
        self.finished = asyncio.Event()

    def add(self, count: int = 1) -> None:
        self.done += count
        if self.expect and self.done >= self.expect:
            self.finished.set()
