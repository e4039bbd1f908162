"""``processor dlq list|show|stats|replay``: inspect and replay the dead-letter topic.

Every command reads the topic from its beginning without a consumer group and commits nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from datetime import datetime
from typing import Any, get_args

from processor.commands.common import add_settings_flags, settings_from
from processor.commands.deadletters import (
    BUCKETS,
    DeadLetter,
    Filter,
    parse_time,
    printable,
    replay_refusal,
)
from processor.commands.dlq_read import arriving, newest, read_one, select
from processor.commands.dlq_render import (
    FollowLayout,
    counted,
    json_line,
    listed,
    refused_line,
    whole,
    would_send_line,
)
from processor.commands.replay import check_topics, send_back
from processor.commands.scan import UnknownTopicError
from processor.config import Settings, echoed
from processor.engine.deadletter import Stage

EXAMPLES = {
    "list": "processor dlq list --stage validate --since 2026-11-22T00:00:00Z --tail 20",
    "show": "processor dlq show 0/42",
    "stats": "processor dlq stats --bucket 1h",
    "replay": "processor dlq replay --error-class ValidationError --dry-run",
}


# Short, so a usage error stays readable; --help lists every option.
USAGE = {
    "list": "%(prog)s [filters] [--tail N] [--follow] [--json] [settings]",
    "show": "%(prog)s P/OFFSET [--json] [settings]",
    "stats": "%(prog)s [filters] [--bucket 1m|1h|1d] [--json] [settings]",
    "replay": "%(prog)s [filters] [--to TOPIC] [--dry-run] [--max-replays N] [settings]",
}


def register(commands: Any) -> None:

    dlq = commands.add_parser("dlq", help="inspect and replay dead letters")
    actions = dlq.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    helps = {
        "list": "dead letters as a table",
        "show": "one dead letter, whole",
        "stats": "counts by stage, error class and time",
        "replay": "send dead letters back",
    }
    for name, text in helps.items():
        parser = actions.add_parser(
            name,
            help=text,
            description=text,
            epilog=f"example: {EXAMPLES[name]}",
            usage=USAGE[name],
        )
        if name == "show":
            parser.add_argument(
                "where",
                type=place,
                metavar="P/OFFSET",
                help="partition/offset in the dead-letter topic, as dlq list prints it "
                "(or OFFSET with --partition)",
            )
            parser.add_argument("--partition", type=count, help="its partition (default: 0)")
        else:
            _add_filters(parser, name)
        _add_options(name, parser)
        add_settings_flags(parser)
        parser.set_defaults(func=_run)


def _add_filters(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--stage", choices=get_args(Stage), help="where the record failed (dlq.error.stage)"
    )
    parser.add_argument("--error-class", help="e.g. ValidationError")
    parser.add_argument("--source-partition", type=count, help="input partition")
    parser.add_argument("--since", type=rfc3339, help="failed at or after (RFC 3339)")
    parser.add_argument("--until", type=rfc3339, help="failed before (RFC 3339)")
    parser.add_argument("--grep", help="text in the error message (any case)")
    if name == "list":
        parser.add_argument(
            "--tail",
            "--limit",
            dest="tail",
            type=count,
            default=0,
            help="the newest N only (0: all); --limit is the same",
        )
    else:
        parser.add_argument(
            "--limit", type=count, default=0, help="the first N in topic order (0: all)"
        )


def _add_options(name: str, parser: argparse.ArgumentParser) -> None:
    if name in ("list", "show", "stats"):
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
    if name == "list":
        parser.add_argument(
            "--follow", action="store_true", help="then print new dead letters until Ctrl-C"
        )
    if name == "stats":
        parser.add_argument(
            "--bucket", choices=sorted(BUCKETS), default="1h", help="counts per this much time"
        )
    if name == "replay":
        parser.add_argument("--to", help="topic to send to (default: each record's source topic)")
        parser.add_argument("--dry-run", action="store_true", help="show what would be sent")
        parser.add_argument(
            "--max-replays",
            type=count,
            default=3,
            help="refuse records already replayed this often (loops)",
        )


def _run(args: argparse.Namespace) -> int:

    settings, _ = settings_from(args)
    command = {"list": _list, "show": _show, "stats": _stats, "replay": _replay}
    try:
        return asyncio.run(command[args.dlq_command](settings, args))
    except UnknownTopicError as exc:
        print(f"processor dlq: {printable(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if getattr(args, "follow", False):
            return 0  # how a follow ends
        raise


# argparse types: their messages follow "argument --option:" in the one-line usage error.
def count(text: str) -> int:
    if not _digits(text):
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {echoed(text)}")
    return int(text)


def place(text: str) -> tuple[int | None, int]:
    """``P/OFFSET`` as ``dlq list`` prints it, or a bare ``OFFSET`` (partition None)."""
    partition, slash, offset = text.rpartition("/")
    if (slash and not _digits(partition)) or not _digits(offset):
        message = f"expected P/OFFSET like 0/42, or an OFFSET, got {echoed(text)}"
        raise argparse.ArgumentTypeError(message)
    return (int(partition) if slash else None), int(offset)


def _digits(text: str) -> bool:
    # isdigit() alone accepts "²", which int() refuses.
    return text.isascii() and text.isdigit()


def rfc3339(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError:
        example = "2026-11-22T10:00:00Z"
        message = f"expected an RFC 3339 time like {example}, got {echoed(text)}"
        raise argparse.ArgumentTypeError(message) from None


def wanted_by(args: argparse.Namespace) -> Filter:
    return Filter(
        args.stage, args.error_class, args.source_partition, args.since, args.until, args.grep
    )


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    wanted = wanted_by(args)
    ends: dict[int, int] = {}
    letters = await newest(settings, wanted, args.tail, ends)
    if not args.follow:
        print(listed(letters, args.json), end="")
        if not args.json:
            print(f"{len(letters)} dead letter(s)", file=sys.stderr)
        return 0
    # Following, the newest go last, as with tail -f: what arrives comes below them.
    letters.reverse()
    layout = FollowLayout(letters)
    line = json_line if args.json else layout.line
    if not args.json:
        print(layout.header(), end="", flush=True)
    for letter in letters:
        print(line(letter), end="", flush=True)
    records = arriving(settings, wanted, ends)
    async with contextlib.aclosing(records):
        async for letter in records:
            print(line(letter), end="", flush=True)
    return 0  # not reached: a follow ends with Ctrl-C


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    given, offset = args.where
    if given is not None and args.partition is not None and given != args.partition:
        said = f"{given}/{offset} and --partition {args.partition} disagree"
        print(f"processor dlq: {said}", file=sys.stderr)
        return 2
    partition = given if given is not None else (args.partition or 0)
    letter = await read_one(settings, partition, offset)
    if letter is not None:
        print(whole(letter, args.json))
        return 0
    print(
        f"processor dlq: no dead letter at partition {partition} offset {offset}",
        file=sys.stderr,
    )
    return 1


async def _stats(settings: Settings, args: argparse.Namespace) -> int:
    letters = await select(settings, wanted_by(args), args.limit)
    print(counted(letters, args.bucket, args.json))
    if not args.json:
        print(f"{len(letters)} dead letter(s)", file=sys.stderr)
    return 0


async def _replay(settings: Settings, args: argparse.Namespace) -> int:
    if args.to:
        await check_topics(settings, [args.to])  # before reading: a typo fails at once
    letters = await select(settings, wanted_by(args), args.limit)
    going: list[DeadLetter] = []
    refused = 0
    for letter in letters:
        reason = replay_refusal(letter, args.max_replays, args.to)
        if reason is None:
            going.append(letter)
        else:
            refused += 1
            print(refused_line(letter, reason), file=sys.stderr)
    if args.dry_run:
        # As the replay itself would: every topic it would write to must exist.
        await check_topics(settings, sorted({args.to or x.source_topic for x in going}))
        for letter in going:
            print(would_send_line(letter, args.to))
        print(f"would replay {len(going)}, refused {refused}")
        return 0
    failed = await send_back(settings, going, args.to)
    print(f"replayed {len(going) - failed}, refused {refused}, failed {failed}")
    return 0 if failed == 0 and refused == 0 else 1
