"""``processor status``: a consumer group's members, assignments, lag and last commit.

Reads only: it joins no group and commits nothing. ``--watch`` redraws on a terminal and prints
one snapshot per interval elsewhere, until Ctrl-C (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

from processor.commands.common import add_settings_flags, settings_only
from processor.commands.failures import failure_of
from processor.commands.status_read import GroupReader
from processor.commands.status_view import GroupStatus, as_json, as_text
from processor.config import Settings, echoed

DEFAULT_WATCH_S = 2.0
# Terminal control: cursor home, clear to the end of the line, clear to the end of the screen.
HOME, CLEAR_LINE, CLEAR_REST, CLEAR_SCREEN = "\x1b[H", "\x1b[K", "\x1b[J", "\x1b[2J"
EXAMPLE = "processor status --group processor --watch 5"


def register(commands: Any) -> None:
    status = commands.add_parser(
        "status",
        help="a consumer group's members, lag and last commit",
        description="A consumer group's state, members and their partitions, each partition's "
        "committed offset, end offset and lag, and the age of the last commit.",
        epilog=f"example: {EXAMPLE}",
        usage="%(prog)s [--group GROUP] [--json] [--watch [SECONDS]] [settings]",
    )
    status.add_argument("--group", help="the consumer group (default: the settings' GROUP_ID)")
    status.add_argument("--json", action="store_true", help="one JSON document (a line)")
    status.add_argument(
        "--watch",
        nargs="?",
        const=DEFAULT_WATCH_S,
        type=interval,
        metavar="SECONDS",
        help=f"again every SECONDS (default {DEFAULT_WATCH_S:g}) until Ctrl-C",
    )
    add_settings_flags(status)
    status.set_defaults(func=_run)


def interval(text: str) -> float:
    """An argparse type: a finite number of seconds, more than 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected seconds, more than 0, got {echoed(text)}")
    return value


def _run(args: argparse.Namespace) -> int:
    settings = settings_only(args)
    group = args.group or settings.group_id
    # The processor's own group: its input topic is shown whole, and must exist.
    topics = [settings.input_topic] if group == settings.group_id else []
    try:
        return asyncio.run(_status(settings, group, topics, args.json, args.watch, sys.stdout))
    except KeyboardInterrupt:
        if args.watch is not None:
            return 0  # how a watch ends
        raise


async def _status(
    settings: Settings,
    group: str,
    topics: list[str],
    json_wanted: bool,
    watch_s: float | None,
    out: TextIO,
) -> int:
    async with GroupReader(settings) as reader:
        status = await reader.snapshot(group, topics)  # the first failure ends the command
        if watch_s is None:
            out.write(_rendered(status, json_wanted) + "\n")
            return 0
        redraw = out.isatty() and not json_wanted
        if redraw:
            out.write(CLEAR_SCREEN)
        while True:
            out.write(_frame(_rendered(status, json_wanted), redraw, json_wanted))
            out.flush()
            await asyncio.sleep(watch_s)
            status = await _again(reader, group, topics, status)


async def _again(
    reader: GroupReader, group: str, topics: list[str], last: GroupStatus
) -> GroupStatus:
    """The next snapshot; while the cluster (or the group) is away, a line and the last one."""
    try:
        return await reader.snapshot(group, topics)
    except Exception as exc:
        failure = failure_of(exc)
        if failure is None:
            raise
        print(f"processor: {failure.message}; trying again", file=sys.stderr, flush=True)
        return last


def _rendered(status: GroupStatus, json_wanted: bool) -> str:
    return as_json(status) if json_wanted else as_text(status)


def _frame(text: str, redraw: bool, json_wanted: bool) -> str:
    """One snapshot of a watch: drawn over the last on a terminal, else after it (JSON a line
    each; text two blank lines apart, sections within it are one apart)."""
    if redraw:
        return HOME + "".join(line + CLEAR_LINE + "\n" for line in text.split("\n")) + CLEAR_REST
    return text + "\n" if json_wanted else text + "\n\n\n"
