"""Structured logs: JSON lines when not on a terminal, readable lines on one."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from typing import Literal, TextIO, TypeAlias, TypeGuard, cast, get_args

import structlog

# Distinct causes a Throttle remembers before it starts afresh (bounded memory).
MAX_CAUSES = 1000
# aiokafka logs a warning per poll for some causes (an unknown topic: about ten a second).
LIBRARY_LOG_INTERVAL_S = 30.0

LogFormat: TypeAlias = Literal["auto", "json", "console"]
LogLevel: TypeAlias = Literal["debug", "info", "warning", "error"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class _Stderr:
    """``sys.stderr`` as it is at each write, not as it was when logging was configured: whoever
    swaps it later (a test's capture, an embedding program) gets the lines, and a stream closed
    since is never written to."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


STDERR = _Stderr()


def is_level(text: str) -> TypeGuard[LogLevel]:
    return text in get_args(LogLevel)


def uses_json(fmt: LogFormat) -> bool:
    """JSON lines, or lines for a person: ``auto`` means JSON unless stderr is a terminal."""
    return fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())


def logging_configured() -> bool:
    return structlog.is_configured()


def configure_logging(level: LogLevel = "info", fmt: LogFormat = "auto") -> None:
    """Send structlog output to stderr, as JSON or for humans, at ``level`` and above.

    The standard library's records (aiokafka's) become the same lines, with the same keys plus
    ``logger``: in JSON mode every line is JSON.
    """
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if uses_json(fmt)
        else structlog.dev.ConsoleRenderer(colors=use_colors())
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        partitions_as_text,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        # One write per line (print() may make two): the processes of one instance share stderr,
        # and their lines must not interleave.
        logger_factory=structlog.WriteLoggerFactory(file=cast(TextIO, STDERR)),
        cache_logger_on_first_use=True,
    )
    _route_standard_logging(shared, renderer, level)


def _route_standard_logging(
    shared: list[structlog.typing.Processor], renderer: structlog.typing.Processor, level: str
) -> None:
    # aiokafka logs through the standard library; keep its warnings, in the same stream and form,
    # and one line per cause per interval.
    handler = logging.StreamHandler(STDERR)  # one write per record
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    handler.addFilter(ThrottleFilter(Throttle(LIBRARY_LOG_INTERVAL_S)))
    root = logging.getLogger()
    root.handlers = [handler]  # configured again: this one replaces the last
    root.setLevel(max(logging.WARNING, _LEVELS[level]))


def use_colors() -> bool:
    """Colours on a terminal, unless ``NO_COLOR`` is set to anything (https://no-color.org)."""
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR")


# aiokafka writes partitions into its messages as reprs.
_PARTITION_REPR = re.compile(r"TopicPartition\(topic='([^']*)', partition=(\d+)\)")


def partitions_as_text(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """Partitions as ``topic/partition``: in values (one, or a collection of them) and in the
    library's messages, never as ``TopicPartition(topic=..., partition=0)``."""
    for key, value in event.items():
        if isinstance(value, str):
            if "TopicPartition(" in value:
                event[key] = _PARTITION_REPR.sub(r"\1/\2", value)
        elif _is_partition(value):
            event[key] = f"{value.topic}/{value.partition}"
        elif isinstance(value, set | frozenset) or (
            isinstance(value, list | tuple) and any(map(_is_partition, value))
        ):
            event[key] = sorted(
                f"{v.topic}/{v.partition}" if _is_partition(v) else str(v) for v in value
            )
    return event


def _is_partition(value: object) -> bool:
    # By shape, not by class: this module may not import aiokafka (the supervisor loads it).
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(getattr(value, "topic", None), str)
        and isinstance(getattr(value, "partition", None), int)
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger


class Throttle:
    """Lets one log line per cause through per ``interval_s``; counts the ones it held back.

    A broker outage or a missing topic fails every poll and every send: one line per cause per
    interval says as much, and the count says how often it happened meanwhile.
    """

    __slots__ = ("_held", "_interval_s", "_last_s")

    def __init__(self, interval_s: float = 30.0) -> None:
        self._interval_s = interval_s
        self._last_s: dict[object, float] = {}
        self._held: dict[object, int] = {}

    def allow(self, cause: object, now_s: float | None = None) -> int | None:
        """None to hold this line back, else how many lines of this cause were held since."""
        now_s = time.monotonic() if now_s is None else now_s
        last = self._last_s.get(cause)
        if last is not None and now_s - last < self._interval_s:
            self._held[cause] = self._held.get(cause, 0) + 1
            return None
        if len(self._last_s) > MAX_CAUSES:  # causes are few; a flood of distinct ones is not
            self._last_s.clear()
            self._held.clear()
        self._last_s[cause] = now_s
        return self._held.pop(cause, 0)


class ThrottledWarnings:
    """Warnings through a :class:`Throttle`: one line per event and cause per interval, saying
    how many lines of that cause it held back (``held_back``)."""

    __slots__ = ("_log", "_throttle")

    def __init__(self, log: structlog.typing.FilteringBoundLogger, interval_s: float) -> None:
        self._log = log
        self._throttle = Throttle(interval_s)

    def warning(self, event: str, cause: object, **fields: object) -> None:
        held = self._throttle.allow((event, cause))
        if held is not None:
            self._log.warning(event, held_back=held, **fields)


class ThrottleFilter(logging.Filter):
    """The standard library's records (aiokafka's) through a :class:`Throttle`, by message."""

    def __init__(self, throttle: Throttle) -> None:
        super().__init__()
        self._throttle = throttle

    def filter(self, record: logging.LogRecord) -> bool:
        held = self._throttle.allow((record.name, record.levelno, record.msg))
        if held is None:
            return False
        if held:
            record.msg = f"{record.msg} [{held} more like this held back]"
        return True
