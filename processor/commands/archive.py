"""``processor archive TOPIC... --to DIR``: topics to Parquet files, exactly once per file.

pyarrow is optional (``pip install 'kafka-record-processor[archive]'``): this module imports the
archive package only after checking that pyarrow is there, so a missing install is one line.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from processor.commands.common import EXIT_USAGE, add_settings_flags, settings_from
from processor.config import Settings
from processor.library_errors import report_library_errors_briefly
from processor.logs import configure_logging, get_logger
from processor.pipeline import PipelineLike, output_models_of

if TYPE_CHECKING:
    from processor.archive.archiver import Archiver
    from processor.archive.columns import Shape
    from processor.archive.plan import ArchivePlan

EXIT_FAILED = 1
EXIT_STARTUP = 4  # as `processor run`: a topic could not be had in time
MISSING_PYARROW = "processor archive needs pyarrow: pip install 'kafka-record-processor[archive]'"
TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "archive",
        help="write topics to Parquet files, exactly once per file",
        description="Reads TOPICs in its own consumer group and writes Parquet files under "
        "DIR/topic=<topic>/date=<YYYY-MM-DD>/, named by partition and first and last offset. "
        "A file is written under a temporary name, fsynced and renamed before its offsets are "
        "committed. The pipeline's output topics get typed columns from its output models "
        "(values that do not fit go to DIR/_invalid/), the dead-letter topic one column per "
        "dlq.* header.",
        epilog="example: processor archive transactions.additions transactions.refunds "
        "transactions.dlq --to /data/archive --once",
        usage="%(prog)s TOPIC... --to DIR [--group GROUP] [--once] [settings]",
    )
    parser.add_argument(
        "topics", nargs="+", metavar="TOPIC", type=topic_name, help="the topics to archive"
    )
    parser.add_argument(
        "--to", required=True, metavar="DIR", type=target,
        help="a folder, or a filesystem URL pyarrow or fsspec can open (s3://bucket/prefix)",
    )  # fmt: skip
    parser.add_argument("--group", help="consumer group (default: archive.<topics joined by +>)")
    parser.add_argument(
        "--once", action="store_true", help="archive what is there now, then exit 0"
    )
    add_settings_flags(parser)
    parser.set_defaults(func=_run)


# argparse types: their messages follow "argument ...:" in the one-line usage error.
def topic_name(text: str) -> str:
    if not TOPIC_NAME.fullmatch(text) or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"not a Kafka topic name: {text!r}")
    return text


def target(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder or a filesystem URL")
    return text


def default_group(topics: list[str]) -> str:
    """The group of an archive of ``topics``: the same topics, in any order, share it."""
    return "archive." + "+".join(sorted(set(topics)))


def shapes(settings: Settings, pipeline: PipelineLike, topics: list[str]) -> dict[str, Shape]:
    """Each topic's columns: dead letters, the pipeline's output model, or raw only."""
    from processor.archive.columns import Shape

    models = output_models_of(pipeline, settings.input_topic)
    found = {}
    for topic in topics:
        if topic == settings.dead_letter_topic:
            found[topic] = Shape.of_dead_letters()
        elif topic in models:
            found[topic] = Shape.of_model(models[topic])
        else:
            found[topic] = Shape.raw()
    return found


def _run(args: argparse.Namespace) -> int:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        print(MISSING_PYARROW, file=sys.stderr)
        return EXIT_USAGE
    from processor.archive.files import StoreError, open_store
    from processor.archive.plan import ArchiveError, ArchivePlan
    from processor.archive.rolling import RollPolicy

    settings, pipeline = settings_from(args)
    configure_logging(settings.log_level, settings.log_format)
    try:
        store = open_store(args.to)
    except StoreError as exc:
        print(f"processor archive: {exc}", file=sys.stderr)
        return EXIT_USAGE
    topics = list(dict.fromkeys(args.topics))
    plan = ArchivePlan(
        topics=tuple(topics),
        group_id=args.group or default_group(topics),
        store=store,
        shapes=shapes(settings, pipeline, topics),
        policy=RollPolicy(
            settings.archive_file_max_records,
            settings.archive_file_max_bytes,
            settings.archive_file_max_age_s,
        ),
        max_held_bytes=settings.archive_max_held_bytes,
        compression=settings.archive_compression,
        once=args.once,
    )
    began = time.monotonic()
    ran: list[Archiver] = []
    try:
        code = asyncio.run(_serve(settings, plan, ran))
    except ArchiveError as exc:
        print(f"processor archive: {exc}", file=sys.stderr)
        return EXIT_STARTUP if "does not exist" in str(exc) else EXIT_FAILED
    print(summary_line(ran[0], time.monotonic() - began))
    return code


async def _serve(settings: Settings, plan: ArchivePlan, ran: list[Archiver]) -> int:
    """Run an archiver (made here: its consumer needs the running loop) and its telemetry."""
    from processor.archive.archiver import Archiver
    from processor.telemetry.archive import ArchiveObservability

    archiver = Archiver(settings, plan)
    ran.append(archiver)
    loop = asyncio.get_running_loop()
    report_library_errors_briefly(loop)
    log = get_logger("processor.commands.archive")

    def on_signal(signum: int) -> None:
        log.info("shutdown_requested", signal=signal.Signals(signum).name)
        archiver.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    observability = ArchiveObservability(archiver, settings)
    await observability.start()
    try:
        return await archiver.run()
    finally:
        await observability.stop()


def summary_line(archiver: Archiver, elapsed_s: float) -> str:
    stats = archiver.stats
    files, rows = sum(stats.files.values()), sum(stats.rows.values())
    invalid, size = sum(stats.invalid_rows.values()), sum(stats.file_bytes.values())
    return (
        f"archived {stats.consumed} records: {rows} rows and {invalid} invalid in {files} "
        f"files, {size} bytes, to {archiver.plan.store.root} in {elapsed_s:.1f} s"
    )
