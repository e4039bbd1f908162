"""``processor broker up|down|status``: the local Kafka broker for development and tests."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from processor.broker.cluster import LocalCluster, nodes_in, stepped_ports
from processor.broker.local import KAFKA_VERSION, BrokerError, LocalBroker, default_home
from processor.broker.secure import SASL_MECHANISMS, SecurePorts, export_lines
from processor.commands.common import seconds

EXIT_ERROR = 1
EXIT_NOT_RUNNING = 3
MAX_NODES = 9

Command = Callable[[argparse.Namespace], int]


def add_broker_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``broker up``, ``broker down`` and ``broker status``; each sets ``func`` -> exit code."""
    broker = subparsers.add_parser(
        "broker", help=f"run a local Apache Kafka {KAFKA_VERSION} broker (no Docker needed)"
    )
    actions = broker.add_subparsers(dest="broker_command", required=True, metavar="COMMAND")
    for name, command, text in (
        ("up", _up, "start the broker in the background unless it runs; print its address"),
        ("down", _down, "stop the broker (every node of a cluster)"),
        ("status", _status, "say whether the broker (every node) runs (exit 0) or not (exit 3)"),
    ):
        parser = actions.add_parser(name, help=text, description=text)
        _add_location_flags(parser)
        if name == "up":
            parser.add_argument(
                "--config",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                type=_broker_setting,
                help="a server.properties setting over ours, used when the broker starts "
                "(repeatable), e.g. group.initial.rebalance.delay.ms=3000",
            )
            parser.add_argument(
                "--secure",
                action="store_true",
                help="also listen with SASL_SSL, SASL_PLAINTEXT and SSL (mutual TLS), with ACLs; "
                "print the client settings as PROCESSOR_NAME=value lines (one broker only)",
            )
            parser.add_argument(
                "--secure-port",
                type=int,
                default=None,
                help="SASL_SSL port; SASL_PLAINTEXT and SSL take the next two (default: PORT+2)",
            )
        parser.set_defaults(func=_reporting_errors(command))


# processor.commands.cli asks every command module for ``register``.
register = add_broker_commands


def _add_location_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="config, data, logs and pid file "
        "(default: $PROCESSOR_BROKER_HOME or ~/.local/share/processor/broker)",
    )
    parser.add_argument("--port", type=int, default=9092, help="client (PLAINTEXT) port")
    parser.add_argument("--controller-port", type=int, default=9093, help="KRaft controller port")
    parser.add_argument(
        "--nodes",
        type=_node_count,
        default=None,
        help="1 (default for up): one broker in HOME; N: a cluster of N brokers, node i in "
        "HOME/node-i on ports PORT+2i and CONTROLLER_PORT+2i (status and down find N in HOME)",
    )
    parser.add_argument(
        "--timeout", type=seconds, default=None, help="seconds to wait (default: up 60, down 30)"
    )


def _reporting_errors(command: Command) -> Command:
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (BrokerError, OSError) as exc:
            reason = " ".join(str(exc).split())  # one line, whatever the cause
            print(f"processor broker {args.broker_command}: {reason}", file=sys.stderr)
            return EXIT_ERROR

    return run


def _broker_setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _node_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_NODES:
        raise argparse.ArgumentTypeError(f"expected a number of nodes from 1 to {MAX_NODES}")
    return int(text)


def _broker(args: argparse.Namespace) -> LocalBroker | LocalCluster:
    """One broker, or the cluster of ``--nodes`` (for status and down: the one set up in home)."""
    home = args.home or default_home()
    overrides = tuple(getattr(args, "config", ()))
    nodes = args.nodes or (1 if args.broker_command == "up" else nodes_in(home) or 1)
    secure = _secure_ports(args)
    if secure is not None and nodes != 1:
        raise BrokerError("--secure starts one broker; leave out --nodes")
    if nodes == 1:
        return LocalBroker(
            home, args.port, args.controller_port, overrides=overrides, secure=secure
        )
    ports, controller_ports = stepped_ports(args.port, args.controller_port, nodes)
    return LocalCluster(home, ports, controller_ports, overrides=overrides)


def _secure_ports(args: argparse.Namespace) -> SecurePorts | None:
    if not getattr(args, "secure", False):
        return None
    if args.secure_port is None:
        return SecurePorts.after(args.port)
    return SecurePorts(args.secure_port, args.secure_port + 1, args.secure_port + 2)


def _timeout(args: argparse.Namespace) -> dict[str, float]:
    return {} if args.timeout is None else {"timeout_s": args.timeout}


def _up(args: argparse.Namespace) -> int:
    def to_stderr(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    # Only the address (or the client settings) goes to stdout, so that scripts can capture it.
    broker = _broker(args)
    address = broker.up(**_timeout(args), progress=to_stderr)
    if isinstance(broker, LocalBroker) and broker.secure is not None:
        to_stderr(listeners_line(broker))
        print(export_lines(broker.client_settings()), end="")
    else:
        print(address)
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = _broker(args).down(**_timeout(args))
    print("stopped" if stopped else "not running", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    found = _broker(args).status()
    statuses = found if isinstance(found, list) else [found]
    for status in statuses:
        print(status.line())
    return 0 if all(status.running for status in statuses) else EXIT_NOT_RUNNING


def listeners_line(broker: LocalBroker) -> str:
    """Where each secured listener answers, for people (the settings lines name one of them)."""
    ports = broker.secure
    assert ports is not None  # only called for a secured broker
    client = broker.credentials.client
    return (
        f"admin (super user, no TLS) at {broker.bootstrap}; "
        f"SASL_SSL ({', '.join(SASL_MECHANISMS)}) at {broker.host}:{ports.sasl_ssl}; "
        f"SASL_PLAINTEXT at {broker.host}:{ports.sasl_plaintext}; "
        f"SSL with client certificate {client.cert} and key {client.key} "
        f"at {broker.host}:{ports.ssl}; secrets in {broker.credentials.folder}"
    )
