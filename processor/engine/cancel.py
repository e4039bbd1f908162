"""Cancelling tasks with a bound: a stop must end, whatever a task does with its cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any]], timeout_s: float
) -> set[asyncio.Future[Any]]:
    """Cancel ``tasks`` and wait for them; returns those still running after ``timeout_s``.

    A cancellation can be lost (Python 3.11's ``wait_for`` drops one that arrives as the call it
    awaits finishes, and a stranger's code may catch it), so they are cancelled again until they
    end or the time is up.
    """
    tasks = list(tasks)  # read twice: to cancel, then to collect what ended
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pending = {task for task in tasks if not task.done()}
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(0.1, deadline - loop.time()))
    for task in tasks:  # their exceptions are retrieved, so asyncio does not report them
        if task.done() and not task.cancelled():
            task.exception()
    return pending
