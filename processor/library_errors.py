"""Errors the Kafka client library leaves in tasks that nobody awaits, as one warning line.

aiokafka's background tasks (a fenced producer's sender, a connection's reader) keep the error
of a failed request in a future of their own; when nothing retrieves it, asyncio reports it at
collection as "Future exception was never retrieved", with a traceback. The engine meets the
same error where it waits, and handles it there; the leftover report is one warning line.
Anything that is not a Kafka error keeps asyncio's own report: that one is a bug.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import KafkaError

from processor.logs import get_logger

log = get_logger("processor.library")


def report_library_errors_briefly(loop: asyncio.AbstractEventLoop) -> None:
    """Install the handler on ``loop``; the handler installed before handles the rest."""
    earlier = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, KafkaError):
            log.warning("library_task_error", error=repr(error), report=context.get("message"))
        elif earlier is not None:
            earlier(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
