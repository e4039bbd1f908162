"""The ``processor`` command: run the processor, manage the local broker, ensure topics."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Sequence

import structlog

from processor.commands import archive, audit, broker, dlq, produce, status
from processor.commands.common import (
    Parser,
    add_settings_flags,
    given_settings,
    pipeline_of,
    requested_format,
    requested_level,
    settings_from,
    settings_only,
)
from processor.commands.failures import Failure, failure_of
from processor.commands.topics import ensure_topics
from processor.config import Settings, instance_name, unknown_variables
from processor.engine.processor import Processor
from processor.instance.cpus import available_cpus
from processor.instance.supervisor import Plan, exec_supervisor
from processor.library_errors import report_library_errors_briefly
from processor.logs import configure_logging, get_logger, logging_configured, uses_json
from processor.pipeline import PipelineLike
from processor.telemetry.observability import Observability
from processor.version import version_line

# A second SIGINT/SIGTERM at least this long after the first stops without draining.
FORCE_AFTER_S = 1.0
# How often a supervised process checks that its supervisor is still there.
ORPHAN_CHECK_S = 0.5

# Short, so that the usage line stays readable; --help lists every setting.
SETTINGS_USAGE = "%(prog)s [settings]"
# Modules that add subcommands: each has ``register(commands)`` taking the subparsers object.
COMMAND_MODULES = (broker, produce, dlq, audit, archive, status)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Every command's logs, its own and the Kafka client's, as `run`'s: JSON lines when JSON is
    # selected. Settings are read later, so an invalid one is reported in this format too.
    configure_logging(requested_level(args), requested_format(args))
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        failure = failure_of(exc)
        if failure is None:
            raise  # a bug: its traceback is what a report needs
        _report(failure, args)
        return failure.exit_code
    return code


def _report(failure: Failure, args: argparse.Namespace) -> None:
    """One line on stderr; for ``run`` in JSON mode, a JSON log line like all the others."""
    if args.command == "run" and uses_json(requested_format(args)):
        if not logging_configured():  # the settings themselves failed
            configure_logging("error", "json")
        get_logger("processor.commands.cli").error(
            "failed", error=failure.message, exit_code=failure.exit_code
        )
    else:
        print(f"processor: {failure.message}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="processor", description="At-least-once Kafka stream processor.")
    parser.add_argument("--version", action="version", version=version_line())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run the processor in the foreground",
        description="Run the processor in the foreground; SIGTERM or Ctrl-C drains and stops it.",
        usage=SETTINGS_USAGE,
    )
    add_settings_flags(run)
    # Set by the supervisor on the processes it starts (instance.supervisor); not for users.
    run.add_argument("--process-index", type=int, help=argparse.SUPPRESS)
    run.add_argument("--supervisor-pid", type=int, help=argparse.SUPPRESS)
    run.set_defaults(func=_run)
    topics = commands.add_parser("topics", help="manage the processor's topics")
    topic_commands = topics.add_subparsers(dest="topics_command", required=True, metavar="COMMAND")
    ensure = topic_commands.add_parser(
        "ensure",
        help="create missing topics, report differences",
        description="Create the topics the settings name (input, outputs, dead letters) when "
        "missing, and report, without changing them, existing ones that differ.",
        usage=SETTINGS_USAGE,
    )
    add_settings_flags(ensure)
    ensure.set_defaults(func=_ensure_topics)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def supervisor_plan(settings: Settings, processes: int) -> Plan:
    return Plan(
        processes=processes,
        client_id=settings.client_id or f"{settings.group_id}-{instance_name(settings)}",
        http_host=settings.http_host,
        http_port=settings.http_port,
        http_unix_socket=str(settings.http_unix_socket) if settings.http_unix_socket else None,
        group_instance_id=settings.group_instance_id,
        log_level=settings.log_level,
        log_format=settings.log_format,
    )


def _run(args: argparse.Namespace) -> int:
    settings = settings_only(args)
    configure_logging(settings.log_level, settings.log_format)
    if args.process_index is None:  # the supervisor's processes: the instance said it once
        for line in unknown_variables(os.environ):
            get_logger("processor.commands.cli").warning("unknown_setting", problem=line)
    pipeline = pipeline_of(settings)
    processes = settings.processes or available_cpus()
    if processes > 1:
        given = {name: str(value) for name, value in given_settings(args).items()}
        exec_supervisor(supervisor_plan(settings, processes), given)
    if args.process_index is not None:
        structlog.contextvars.bind_contextvars(process=args.process_index)
    return asyncio.run(_serve(settings, pipeline, args.supervisor_pid))


async def _serve(settings: Settings, pipeline: PipelineLike, supervisor_pid: int | None) -> int:
    processor = Processor(settings, pipeline)
    log = get_logger("processor.commands.cli")
    loop = asyncio.get_running_loop()
    report_library_errors_briefly(loop)
    first_signal_at: list[float] = []

    def on_signal(signum: int) -> None:
        if not first_signal_at:
            first_signal_at.append(loop.time())
            log.info("shutdown_requested", signal=signal.Signals(signum).name)
            processor.stop()
        elif loop.time() - first_signal_at[0] < FORCE_AFTER_S:
            pass  # the same Ctrl-C delivered twice (to a wrapper's group and to us)
        else:  # a second signal: stop now; nothing unacknowledged was committed
            log.warning("shutdown_forced", signal=signal.Signals(signum).name)
            os._exit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    watch = None
    if supervisor_pid is not None:
        watch = loop.create_task(_stop_when_orphaned(processor.stop, supervisor_pid))
    observability = Observability(processor, settings)
    await observability.start()
    try:
        return await processor.run()
    finally:
        if watch is not None:
            watch.cancel()
        await observability.stop()  # last: probes answer while draining


async def _stop_when_orphaned(stop: Callable[[], None], supervisor_pid: int) -> None:
    """Stop cleanly once the supervisor is gone (killed): nobody else would stop this process."""
    while os.getppid() == supervisor_pid:
        await asyncio.sleep(ORPHAN_CHECK_S)
    get_logger("processor.commands.cli").warning("supervisor_gone", supervisor_pid=supervisor_pid)
    stop()


def _ensure_topics(args: argparse.Namespace) -> int:
    settings, pipeline = settings_from(args)
    reports = asyncio.run(ensure_topics(settings, pipeline))
    for report in reports:
        print(report.line())
    return 1 if any(report.state in ("differs", "failed") for report in reports) else 0
