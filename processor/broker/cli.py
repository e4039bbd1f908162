"""``processor broker up|down|status``: the local Kafka broker for development and tests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from processor.broker.jars import KAFKA_VERSION
from processor.broker.local import BrokerError, LocalBroker, default_home

EXIT_NOT_RUNNING = 3


def register(commands: Any) -> None:
    broker = commands.add_parser(
        "broker", help=f"run a local Apache Kafka {KAFKA_VERSION} broker (no Docker needed)"
    )
    actions = broker.add_subparsers(dest="broker_command", required=True, metavar="COMMAND")
    for name, func, text in (
        ("up", _up, "start the broker in the background (if needed) and print its address"),
        ("down", _down, "stop the broker"),
        ("status", _status, "say whether the broker runs (exit 0) or not (exit 3)"),
    ):
        parser = actions.add_parser(name, help=text, description=text,
                                    epilog="example: processor broker up --port 9092")  # fmt: skip
        parser.add_argument("--home", type=Path, default=None,
                            help="config, data and logs (default: $PROCESSOR_BROKER_HOME "
                            "or ~/.local/share/processor/broker)")  # fmt: skip
        parser.add_argument("--port", type=int, default=9092, help="client port")
        parser.add_argument("--controller-port", type=int, default=9093, help="KRaft port")
        parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait")
        parser.set_defaults(func=func)


def _broker(args: argparse.Namespace) -> LocalBroker:
    return LocalBroker(args.home or default_home(), args.port, args.controller_port)


def _up(args: argparse.Namespace) -> int:
    broker = _broker(args)
    print(f"starting Kafka {KAFKA_VERSION} in {broker.home} ...", file=sys.stderr)
    try:
        print(broker.up(args.timeout))
    except BrokerError as exc:
        print(f"processor broker: {exc}", file=sys.stderr)
        return 1
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = _broker(args).down(args.timeout)
    print("stopped" if stopped else "not running", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    status = _broker(args).status()
    print(status.line())
    return 0 if status.running else EXIT_NOT_RUNNING
