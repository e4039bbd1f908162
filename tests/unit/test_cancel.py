"""cancel_and_wait: a stop ends whatever a task does with its cancellation."""

from __future__ import annotations

import asyncio
import contextlib

from processor.engine.cancel import cancel_and_wait


async def test_a_task_that_swallows_its_first_cancellation_is_cancelled_again() -> None:
    # What Python 3.11's wait_for does when the awaited call finishes as the cancel arrives.
    async def swallows_once() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)
        await asyncio.Event().wait()  # back to waiting for work, as a lane does

    task = asyncio.get_running_loop().create_task(swallows_once())
    await asyncio.sleep(0)
    assert await cancel_and_wait([task], timeout_s=2.0) == set()
    assert task.cancelled()


async def test_a_task_that_never_ends_is_given_up_within_the_timeout() -> None:
    released = asyncio.Event()

    async def unkillable() -> None:
        while not released.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await released.wait()

    loop = asyncio.get_running_loop()
    task = loop.create_task(unkillable())
    await asyncio.sleep(0)
    began = loop.time()
    assert await cancel_and_wait([task], timeout_s=0.3) == {task}
    assert loop.time() - began < 1.0
    released.set()  # let it end, so the test leaves nothing running
    await task


async def test_finished_tasks_and_their_errors_are_taken_quietly() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    task = asyncio.get_running_loop().create_task(fails())
    await asyncio.sleep(0)
    assert await cancel_and_wait([task], timeout_s=0.5) == set()
