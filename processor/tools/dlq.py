"""``processor dlq list|show|stats|replay``: inspect and replay the dead-letter topic.

Every command reads the topic from its beginning without a consumer group and commits nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from processor import headers as h
from processor.config import Settings, kafka_client_options
from processor.scan import UnknownTopicError, scan
from processor.tools.deadletters import (
    BUCKETS,
    DeadLetter,
    Filter,
    count_by_bucket,
    count_by_class,
    parse_time,
    shown,
    table,
)
from processor.tools.progress import Progress

REPLAY_CHUNK = 1000

EXAMPLES = {
    "list": "processor dlq list --stage validate --since 2026-11-22T00:00:00Z --limit 20",
    "show": "processor dlq show 42 --partition 0",
    "stats": "processor dlq stats --bucket 1h",
    "replay": "processor dlq replay --error-class ValidationError --dry-run",
}


def register(commands: Any) -> None:
    from processor.cli import add_settings_flags

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
            name, help=text, description=text, epilog=f"example: {EXAMPLES[name]}"
        )
        if name == "show":
            parser.add_argument("offset", type=int, help="offset in the dead-letter topic")
            parser.add_argument("--partition", type=int, default=0, help="its partition")
        else:
            _add_filters(parser)
        _add_options(name, parser)
        add_settings_flags(parser)
        parser.set_defaults(func=_run)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", choices=["decode", "validate", "route", "handler"])
    parser.add_argument("--error-class", help="e.g. ValidationError")
    parser.add_argument("--source-partition", type=int, help="input partition")
    parser.add_argument("--since", type=parse_time, help="failed at or after (RFC 3339)")
    parser.add_argument("--until", type=parse_time, help="failed before (RFC 3339)")
    parser.add_argument("--grep", help="text in the error message (any case)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many (0: all)")


def _add_options(name: str, parser: argparse.ArgumentParser) -> None:
    if name in ("list", "show", "stats"):
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
    if name == "stats":
        parser.add_argument("--bucket", choices=sorted(BUCKETS), default="1h")
    if name == "replay":
        parser.add_argument("--to", help="topic to send to (default: each record's source topic)")
        parser.add_argument("--dry-run", action="store_true", help="show what would be sent")
        parser.add_argument(
            "--max-replays",
            type=int,
            default=3,
            help="refuse records already replayed this often (loops)",
        )


def _run(args: argparse.Namespace) -> int:
    from processor.cli import settings_from

    settings, _ = settings_from(args)
    command = {"list": _list, "show": _show, "stats": _stats, "replay": _replay}
    try:
        return asyncio.run(command[args.dlq_command](settings, args))
    except UnknownTopicError as exc:
        print(f"processor dlq: {exc}", file=sys.stderr)
        return 2


async def select(settings: Settings, args: argparse.Namespace) -> list[DeadLetter]:
    wanted = Filter(
        args.stage, args.error_class, args.source_partition, args.since, args.until, args.grep
    )
    chosen: list[DeadLetter] = []
    async for record in scan(settings, settings.dead_letter_topic):
        letter = DeadLetter.from_record(record)
        if wanted.matches(letter):
            chosen.append(letter)
            if args.limit and len(chosen) >= args.limit:
                break
    return chosen


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    letters = await select(settings, args)
    if args.json:
        for letter in letters:
            print(json.dumps(letter.summary()))
        return 0
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
    print(table(rows, header))
    print(f"{len(letters)} dead letter(s)", file=sys.stderr)
    return 0


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    async for record in scan(settings, settings.dead_letter_topic):
        if record.partition == args.partition and record.offset == args.offset:
            letter = DeadLetter.from_record(record)
            print(_whole(letter, args.json))
            return 0
    print(
        f"processor dlq: no dead letter at partition {args.partition} offset {args.offset}",
        file=sys.stderr,
    )
    return 1


def _whole(letter: DeadLetter, as_json: bool) -> str:
    if as_json:
        document = {
            **letter.summary(),
            "key": shown(letter.key),
            "value": shown(letter.value),
            "headers": [[n, shown(v)] for n, v in letter.original_headers],
            "dlq": letter.dlq,
            "validation_errors": letter.validation_errors(),
        }
        return json.dumps(document, ensure_ascii=False)
    lines = [
        f"dead letter {letter.partition}/{letter.offset}",
        f"key: {shown(letter.key)}",
        "value:",
        shown(letter.value),
        "original headers:",
    ]
    lines += [f"  {name}: {shown(value)}" for name, value in letter.original_headers]
    lines += ["dead-letter headers:"] + [
        f"  {n}: {v}" for n, v in letter.dlq.items() if n != h.DLQ_DETAIL
    ]
    errors = letter.validation_errors()
    if errors:
        lines.append("validation errors:")
        lines += [f"  - {'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in errors]
    return "\n".join(lines)


async def _stats(settings: Settings, args: argparse.Namespace) -> int:
    letters = await select(settings, args)
    by_class = count_by_class(letters)
    by_time = count_by_bucket(letters, BUCKETS[args.bucket])
    if args.json:
        print(
            json.dumps(
                {
                    "total": len(letters),
                    "by_class": [
                        {"stage": s, "error_class": c, "count": n}
                        for (s, c), n in by_class.most_common()
                    ],
                    "by_time": [
                        {"from": t.isoformat(), "count": n} for t, n in sorted(by_time.items())
                    ],
                }
            )
        )
        return 0
    print(
        table([[s, c, str(n)] for (s, c), n in by_class.most_common()], ["STAGE", "CLASS", "COUNT"])
    )
    print()
    print(
        table(
            [[t.isoformat(), str(n)] for t, n in sorted(by_time.items())],
            [f"FROM ({args.bucket})", "COUNT"],
        )
    )
    print(f"{len(letters)} dead letter(s)", file=sys.stderr)
    return 0


async def _replay(settings: Settings, args: argparse.Namespace) -> int:
    letters = await select(settings, args)
    refused = [x for x in letters if x.replay_count >= args.max_replays]
    going = [x for x in letters if x.replay_count < args.max_replays]
    for letter in refused:
        print(
            f"refused {letter.partition}/{letter.offset}: replayed {letter.replay_count} "
            f"times already (--max-replays {args.max_replays})",
            file=sys.stderr,
        )
    if args.dry_run:
        for letter in going:
            print(
                f"would send {letter.partition}/{letter.offset} to "
                f"{args.to or letter.source_topic} (replay {letter.replay_count + 1})"
            )
        print(f"would replay {len(going)}, refused {len(refused)}")
        return 0
    failed = await _send_back(settings, going, args.to)
    print(f"replayed {len(going) - failed}, refused {len(refused)}, failed {failed}")
    return 0 if failed == 0 else 1


def replay_headers(letter: DeadLetter, now: datetime) -> list[tuple[str, bytes]]:
    """The original headers, with a fresh replay time and count (the failure's own are gone)."""
    kept = [
        (n, v)
        for n, v in letter.original_headers
        if n not in (h.DLQ_REPLAYED_AT, h.DLQ_REPLAY_COUNT)
    ]
    stamp = now.isoformat(timespec="milliseconds").encode()
    return [
        *kept,
        (h.DLQ_REPLAYED_AT, stamp),
        (h.DLQ_REPLAY_COUNT, str(letter.replay_count + 1).encode()),
    ]


async def _send_back(settings: Settings, letters: list[DeadLetter], to: str | None) -> int:
    producer = AIOKafkaProducer(
        **kafka_client_options(settings), acks="all", enable_idempotence=True
    )
    await producer.start()
    progress = Progress("replayed", len(letters))
    failed = 0
    try:
        now = datetime.now(UTC)
        for start in range(0, len(letters), REPLAY_CHUNK):
            pending = [
                await producer.send(
                    to or x.source_topic,
                    x.value,
                    key=x.key,
                    headers=replay_headers(x, now),
                    timestamp_ms=x.timestamp_ms,
                )
                for x in letters[start : start + REPLAY_CHUNK]
            ]
            results = await asyncio.gather(*pending, return_exceptions=True)
            failed += sum(isinstance(r, BaseException) for r in results)
            progress.show(start + len(pending))
    finally:
        await producer.stop()
        progress.done()
    return failed
