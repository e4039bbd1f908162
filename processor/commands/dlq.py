"""``processor dlq list|show|stats|replay``: inspect and replay the dead-letter topic.

Every command reads the topic from its beginning without a consumer group and commits nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from typing import Any, get_args

from processor import headers as h
from processor.commands.common import add_settings_flags, settings_from
from processor.commands.deadletters import (
    BUCKETS,
    DeadLetter,
    Filter,
    count_by_bucket,
    count_by_class,
    parse_time,
    printable,
    replay_refusal,
    shown,
    table,
)
from processor.commands.dlq_read import read_one, select
from processor.commands.replay import send_back
from processor.commands.scan import UnknownTopicError
from processor.config import Settings, echoed
from processor.engine.deadletter import Stage

EXAMPLES = {
    "list": "processor dlq list --stage validate --since 2026-11-22T00:00:00Z --limit 20",
    "show": "processor dlq show 42 --partition 0",
    "stats": "processor dlq stats --bucket 1h",
    "replay": "processor dlq replay --error-class ValidationError --dry-run",
}


# Short, so a usage error stays readable; --help lists every option.
USAGE = {
    "list": "%(prog)s [filters] [--json] [settings]",
    "show": "%(prog)s OFFSET [--partition P] [--json] [settings]",
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
            parser.add_argument("offset", type=count, help="offset in the dead-letter topic")
            parser.add_argument("--partition", type=count, default=0, help="its partition")
        else:
            _add_filters(parser)
        _add_options(name, parser)
        add_settings_flags(parser)
        parser.set_defaults(func=_run)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage", choices=get_args(Stage), help="where the record failed (dlq.error.stage)"
    )
    parser.add_argument("--error-class", help="e.g. ValidationError")
    parser.add_argument("--source-partition", type=count, help="input partition")
    parser.add_argument("--since", type=rfc3339, help="failed at or after (RFC 3339)")
    parser.add_argument("--until", type=rfc3339, help="failed before (RFC 3339)")
    parser.add_argument("--grep", help="text in the error message (any case)")
    parser.add_argument("--limit", type=count, default=0, help="at most this many (0: all)")


def _add_options(name: str, parser: argparse.ArgumentParser) -> None:
    if name in ("list", "show", "stats"):
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
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


# argparse types: their messages follow "argument --option:" in the one-line usage error.
def count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {echoed(text)}")
    return int(text)


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
    letters = await select(settings, wanted_by(args), args.limit)
    print(listed(letters, args.json), end="")
    if not args.json:
        print(f"{len(letters)} dead letter(s)", file=sys.stderr)
    return 0


def listed(letters: list[DeadLetter], as_json: bool) -> str:
    """``dlq list`` output: one JSON document a line, or a table; each line ends in a newline."""
    if as_json:
        return "".join(json.dumps(letter.summary()) + "\n" for letter in letters)
    rows = [
        [
            f"{s['source_partition']}/{s['source_offset']}",
            s["stage"],
            s["error_class"],
            s["message"][:60],
            s["failed_at"] or "",
            f"{s['partition']}/{s['offset']}",
        ]
        for s in (letter.summary() for letter in letters)
    ]
    header = ["SOURCE", "STAGE", "CLASS", "MESSAGE", "FAILED AT", "DLQ P/OFFSET"]
    return table(rows, header) + "\n"


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    letter = await read_one(settings, args.partition, args.offset)
    if letter is not None:
        print(whole(letter, args.json))
        return 0
    print(
        f"processor dlq: no dead letter at partition {args.partition} offset {args.offset}",
        file=sys.stderr,
    )
    return 1


def whole(letter: DeadLetter, as_json: bool) -> str:
    """``dlq show`` output: one dead letter as a JSON document, or as text for a terminal."""
    return _whole_json(letter) if as_json else _whole_text(letter)


def _whole_json(letter: DeadLetter) -> str:
    document = {
        **letter.summary(),
        "key": shown(letter.key),
        "value": shown(letter.value),
        "headers": [[n, shown(v)] for n, v in letter.original_headers],
        "dlq": letter.dlq,
        "validation_errors": letter.validation_errors(),
    }
    # ASCII, JSON's own escapes: a record's lone surrogates cannot be printed as UTF-8, and its
    # C1 and bidi characters would reach the terminal raw. The text stays exactly the same.
    try:
        return json.dumps(document)
    except (ValueError, RecursionError):
        # Errors nested almost as deep as the parser allows are deeper still inside the document;
        # their raw text is kept under "dlq" all the same.
        return json.dumps({**document, "validation_errors": []})


def _whole_text(letter: DeadLetter) -> str:
    lines = [
        f"dead letter {letter.partition}/{letter.offset}",
        f"key: {_layout(shown(letter.key))}",
        "value:",
        _layout(shown(letter.value)),
        "original headers:",
    ]
    lines += [
        f"  {printable(name)}: {_layout(shown(value))}" for name, value in letter.original_headers
    ]
    lines += ["dead-letter headers:"] + [
        f"  {printable(n)}: {printable(v)}" for n, v in letter.dlq.items() if n != h.DLQ_DETAIL
    ]
    errors = letter.validation_errors()
    if errors:
        lines.append("validation errors:")
        lines += [f"  - {_error_line(error)}" for error in errors]
    return "\n".join(lines)


def _layout(text: str) -> str:
    """``shown`` text made printable, keeping its newlines as lines."""
    # Its raw newlines are all the pretty-printer's layout: inside JSON strings and in escaped
    # bytes, a record's own newlines are already escapes.
    return "\n".join(printable(line) for line in text.split("\n"))


def _error_line(error: object) -> str:
    """One validation error as ``loc: msg``, made printable; the detail may be any JSON."""
    try:
        if not isinstance(error, dict):
            return printable(str(error))
        loc = error.get("loc", [])
        where = ".".join(map(str, loc)) if isinstance(loc, list) else str(loc)
        return printable(f"{where}: {error.get('msg')}")
    except RecursionError:  # str() of lists nested nearly as deep as the parser allows
        return "(too deeply nested to show)"


async def _stats(settings: Settings, args: argparse.Namespace) -> int:
    letters = await select(settings, wanted_by(args), args.limit)
    print(counted(letters, args.bucket, args.json))
    if not args.json:
        print(f"{len(letters)} dead letter(s)", file=sys.stderr)
    return 0


def counted(letters: list[DeadLetter], bucket: str, as_json: bool) -> str:
    """``dlq stats`` output: counts by stage and class, and by time, as JSON or two tables."""
    by_class = count_by_class(letters)
    by_time = sorted(count_by_bucket(letters, BUCKETS[bucket]).items())
    if as_json:
        return json.dumps(
            {
                "total": len(letters),
                "by_class": [
                    {"stage": s, "error_class": c, "count": n}
                    for (s, c), n in by_class.most_common()
                ],
                "by_time": [{"from": t.isoformat(), "count": n} for t, n in by_time],
            }
        )
    classes = table(
        [[s, c, str(n)] for (s, c), n in by_class.most_common()], ["STAGE", "CLASS", "COUNT"]
    )
    times = table([[t.isoformat(), str(n)] for t, n in by_time], [f"FROM ({bucket})", "COUNT"])
    return f"{classes}\n\n{times}"


async def _replay(settings: Settings, args: argparse.Namespace) -> int:
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
        for letter in going:
            print(would_send_line(letter, args.to))
        print(f"would replay {len(going)}, refused {refused}")
        return 0
    failed = await send_back(settings, going, args.to)
    print(f"replayed {len(going) - failed}, refused {refused}, failed {failed}")
    return 0 if failed == 0 and refused == 0 else 1


def refused_line(letter: DeadLetter, reason: str) -> str:
    """Why a dead letter stays; the reason may one day quote the record, so made printable."""
    return printable(f"refused {letter.partition}/{letter.offset}: {reason}")


def would_send_line(letter: DeadLetter, to: str | None) -> str:
    """A dry run's line; the topic comes from the record itself unless ``to`` is given."""
    where, again = to or letter.source_topic, letter.replay_count + 1
    return printable(f"would send {letter.partition}/{letter.offset} to {where} (replay {again})")
