"""Asking a group's coordinator while it may still be loading.

On a cluster that never had a group, the offsets topic is created by the first request that
needs it, and its coordinator is not available for a moment; a coordinator that just moved
answers "not coordinator" until the client looks it up again. Both pass: ask again for a while.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    NotCoordinatorError,
)

WAIT_S = 30.0
POLL_S = 0.5
NOT_READY = (CoordinatorNotAvailableError, CoordinatorLoadInProgressError, NotCoordinatorError)

T = TypeVar("T")


async def once_ready(ask: Callable[[], Awaitable[T]], wait_s: float = WAIT_S) -> T:
    """``ask()``, again every ``POLL_S`` while the coordinator is not ready, for ``wait_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        try:
            return await ask()
        except NOT_READY:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(POLL_S)
