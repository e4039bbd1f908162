"""``processor audit``: read the input, output and dead-letter topics and check every record."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Iterable
from typing import Any

from processor.commands.audit_report import AuditReport, CrashWindow, audit
from processor.commands.common import add_settings_flags, settings_from
from processor.commands.scan import committed_offsets, scan
from processor.config import Settings
from processor.pipeline import PipelineLike


def register(commands: Any) -> None:

    parser = commands.add_parser(
        "audit",
        help="check that every input record reached an output or the dead-letter topic",
        description="Reads the input, output and dead-letter topics from the beginning, "
        "without a consumer group, and reports lost records, records in both an output and "
        "the dead-letter topic, duplicates, per-key order violations and dead letters with "
        "missing headers. A record found nowhere is lost when the group (--group-id) has "
        "committed past it, pending otherwise. Exit status 0 when nothing is lost or out of "
        "order.",
        epilog="example: processor audit --input-topic transactions --json",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_settings_flags(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:

    settings, pipeline = settings_from(args)
    report = asyncio.run(audit_topics(settings, pipeline))
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        for name, value in report.summary().items():
            print(f"{name:>24}: {value}")
        for line in report.order_violations[:10]:
            print(f"order violation: {line}")
    return 0 if report.clean else 1


async def audit_topics(
    settings: Settings, pipeline: PipelineLike, crash_windows: Iterable[CrashWindow] = ()
) -> AuditReport:
    inputs = await _read(settings, settings.input_topic)
    outputs: list[Any] = []
    for topic in pipeline.output_topics(settings.input_topic):
        outputs += await _read(settings, topic)
    dead_letters = await _read(settings, settings.dead_letter_topic)
    committed = await committed_offsets(settings, settings.input_topic)
    return audit(settings.input_topic, inputs, outputs, dead_letters, crash_windows, committed)


async def _read(settings: Settings, topic: str) -> list[Any]:
    return [record async for record in scan(settings, topic)]
