"""``processor audit``: read the input, output and dead-letter topics and check every record."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Iterable
from typing import Any, get_args

from processor.commands.audit_report import AuditReport, CrashWindow, audit_under_isolation
from processor.commands.common import add_settings_flags, settings_from
from processor.commands.scan import committed_offsets, read_topic, scan
from processor.commands.visibility import Visibility, classify
from processor.config import IsolationLevel, Settings
from processor.pipeline import PipelineLike

ISOLATION_LEVELS: tuple[str, ...] = get_args(IsolationLevel)


def register(commands: Any) -> None:

    parser = commands.add_parser(
        "audit",
        help="check that every input record reached an output or the dead-letter topic",
        description="Reads the input, output and dead-letter topics from the beginning, "
        "without a consumer group, and reports lost records, records in both an output and "
        "the dead-letter topic, duplicates, per-key order violations and dead letters with "
        "missing headers. A record found nowhere is lost when the group (--group-id) has "
        "committed past it, pending otherwise. Outputs and dead letters of aborted "
        "transactions are counted as aborted, those of transactions still open as open. "
        "Exit status 0 when nothing is lost or out of order.",
        epilog="example: processor audit --input-topic transactions --isolation read_uncommitted",
        # Short, so a usage error stays readable; --help lists every option.
        usage="%(prog)s [--isolation read_committed|read_uncommitted] [--json] [settings]",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--isolation",
        choices=ISOLATION_LEVELS,
        help="how the outputs and dead letters are read: read_uncommitted counts the records "
        "of aborted and open transactions too (default: the isolation level setting)",
    )
    add_settings_flags(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:

    settings, pipeline = settings_from(args)
    isolation: IsolationLevel = args.isolation or settings.isolation_level
    report = asyncio.run(audit_topics(settings, pipeline, isolation=isolation))
    if args.json:
        print(json.dumps({"isolation": isolation, **report.as_dict()}))
    else:
        print(f"{'isolation':>24}: {isolation}")
        for name, value in report.summary().items():
            print(f"{name:>24}: {value}")
        for line in report.order_violations[:10]:
            print(f"order violation: {line}")
    return 0 if report.clean else 1


async def audit_topics(
    settings: Settings,
    pipeline: PipelineLike,
    crash_windows: Iterable[CrashWindow] = (),
    *,
    isolation: IsolationLevel | None = None,
) -> AuditReport:
    """Audit the topics of ``pipeline``, its outputs and dead letters read with ``isolation``
    (default: ``settings.isolation_level``); the input is read as the processor reads it."""
    inputs = [record async for record in scan(settings, settings.input_topic)]
    outputs = [
        await _read_visibility(settings, topic)
        for topic in pipeline.output_topics(settings.input_topic)
    ]
    dead_letters = await _read_visibility(settings, settings.dead_letter_topic)
    committed = await committed_offsets(settings, settings.input_topic)
    return audit_under_isolation(
        isolation or settings.isolation_level,
        settings.input_topic,
        inputs,
        outputs,
        dead_letters,
        crash_windows,
        committed,
    )


async def _read_visibility(settings: Settings, topic: str) -> Visibility:
    """``topic`` read both ways, its records split by the fate of their transaction."""
    # Committed first: below its last stable offsets every transaction had settled, so what the
    # later read_uncommitted read finds there and the first did not was aborted.
    committed = await read_topic(settings, topic, "read_committed")
    everything = await read_topic(settings, topic, "read_uncommitted")
    return classify(everything.records, committed.records, committed.ends)
