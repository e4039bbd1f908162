"""Where a pipeline's route runs: inline on the event loop, in a thread pool, or in a process pool.

Every call is bounded by the route timeout. A call past it is abandoned: an async route is
cancelled (one that ignores its cancellation is left to end alone), a call in a pool cannot be
stopped and keeps its worker until it returns, so a pool slot is taken for a call only while
it runs and a call waits for a free slot before its time starts. The event loop never runs user
code that blocks: that is what the ``thread`` and ``process`` executors are for.

A process pool starts its workers with ``spawn`` (no inherited event loop or sockets) and hands
each one the pipeline, pickled: the pipeline, its records and outcomes must pickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import pickle
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import BrokenExecutor, ThreadPoolExecutor
from concurrent.futures import Executor as PoolExecutor
from typing import TYPE_CHECKING, Any

from processor.logs import get_logger

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor
from processor.pipeline import executor_of, route_call

log = get_logger("processor.engine.executors")

DEFAULT_THREADS = 32


class RouteTimeout(Exception):
    """The route did not return within its time limit."""


class ExecutorError(Exception):
    """The pipeline cannot run in its executor: one readable line."""


def default_workers(executor: str) -> int:
    if executor == "thread":
        return DEFAULT_THREADS
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class RouteRunner:
    """Runs the pipeline: its ``start`` and ``close`` hooks, and its route (``route`` or
    ``route_many``) where its executor says."""

    def __init__(self, pipeline: object, timeout_s: float, workers: int = 0) -> None:
        self.executor = executor_of(pipeline)
        self._call = route_call(pipeline)
        self._name = self._call.__name__
        self._pipeline = pipeline
        self._timeout_s = timeout_s
        self._workers = workers or default_workers(self.executor)
        self._pool: PoolExecutor | None = None
        self._slots = asyncio.Semaphore(self._workers)
        # Async routes (and a close hook) past their timeout that ignored their cancellation,
        # until they end.
        self._abandoned: set[asyncio.Future[Any]] = set()

    async def start(self, timeout_s: float) -> None:
        """Start the pool the executor needs, then the pipeline's ``start`` hook, within
        ``timeout_s``.

        Raises ExecutorError, one line, when the pipeline cannot run in its executor (it does
        not pickle, or a worker process cannot load it) or its ``start`` fails or hangs.
        """
        if self.executor == "thread":
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="route")
        elif self.executor == "process":
            self._pool = self._process_pool()
            try:  # a worker loads the pipeline now, not on the first record
                ready = asyncio.get_running_loop().run_in_executor(self._pool, _ready)
                await self._bounded(ready, timeout_s, "a worker process")
            except Exception as exc:
                raise ExecutorError(
                    f"a worker process could not load the pipeline: {_one_line(exc)}"
                ) from None
        hook = getattr(self._pipeline, "start", None)
        if hook is not None:
            try:  # not asyncio.timeout: it waits for a hook that ignores its cancellation
                await self._bounded(hook(), timeout_s, "the pipeline's start()")
            except Exception as exc:
                raise ExecutorError(f"the pipeline's start() failed: {_one_line(exc)}") from None

    async def close(self, timeout_s: float) -> None:
        """The pipeline's ``close`` hook (within ``timeout_s``), then the pool, without waiting
        for calls that still run (they were abandoned)."""
        hook = getattr(self._pipeline, "close", None)
        if hook is not None:
            try:  # not wait_for: it waits for a hook that ignores its cancellation
                await self._bounded(hook(), timeout_s, "close()")
            except Exception as exc:  # a timeout included: closing goes on regardless
                log.warning("pipeline_close_failed", error=repr(exc))
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _renew(self, broken: PoolExecutor) -> None:
        """A worker process died (killed, out of memory): the pool is broken for good, so the
        calls after this one go to a new pool. Once per breakage, however many calls saw it."""
        if self._pool is not broken:
            return
        broken.shutdown(wait=False, cancel_futures=True)
        self._pool = self._process_pool()
        log.warning("executor_pool_replaced", executor=self.executor)

    def _process_pool(self) -> ProcessPoolExecutor:
        # Imported here: multiprocessing costs every process memory, and most pipelines
        # never start a process pool.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        try:
            pickled = pickle.dumps(self._pipeline)
            pickle.dumps(getattr(self._pipeline, "model"))  # noqa: B009
        except Exception as exc:
            raise ExecutorError(
                "executor 'process' sends the pipeline and its records to worker processes, "
                f"and they must pickle: {exc!r}"
            ) from None
        return ProcessPoolExecutor(
            self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_adopt,
            initargs=(pickled, self._name),
        )

    @property
    def route(self) -> Callable[..., Any]:
        """What to call per record (or batch): the pipeline's route itself on the loop (an
        awaitable it returns then goes through :meth:`bounded`), else a call in the pool,
        already bounded by the time limit."""
        return self._call if self.executor == "loop" else self._pool_call

    def bounded(self, pending: Awaitable[Any]) -> Awaitable[Any]:
        """``pending`` from :attr:`route`, cut off after the time limit (raises RouteTimeout)."""
        if self.executor != "loop":
            return pending  # a pool call bounds itself, from when it gets a worker
        return self._bounded(pending, self._timeout_s, self._name)

    def _pool_call(self, *args: Any) -> Awaitable[Any]:
        return self._in_pool(args)

    def call(self, *args: Any) -> Any:
        """:attr:`route` and :meth:`bounded` in one: the route's result, or an awaitable of it
        when it must wait (raises RouteTimeout)."""
        result = self.route(*args)
        if type(result) is not tuple and inspect.isawaitable(result):  # Output is a tuple
            return self.bounded(result)
        return result

    async def _bounded(self, pending: Awaitable[Any], timeout_s: float, name: str) -> Any:
        call = asyncio.ensure_future(pending)
        try:
            done, _ = await asyncio.wait((call,), timeout=timeout_s)
        except asyncio.CancelledError:  # a stop: the route goes too
            call.cancel()
            raise
        if done:
            return call.result()
        call.cancel()
        self._abandoned.add(call)
        call.add_done_callback(self._forget_abandoned)
        raise RouteTimeout(f"{name} did not return within {timeout_s:g} s")

    async def _in_pool(self, args: tuple[Any, ...]) -> Any:
        assert self._pool is not None
        await self._slots.acquire()
        loop = asyncio.get_running_loop()
        function = _run_adopted if self.executor == "process" else self._call
        pool = self._pool
        try:
            running = pool.submit(function, *args)
        except BaseException as exc:
            self._slots.release()
            if isinstance(exc, BrokenExecutor):
                self._renew(pool)
            raise
        # The slot stands for a pool worker: it is free only once the call really ends, not
        # when it is abandoned after its timeout.
        running.add_done_callback(lambda _: _call_soon(loop, self._slots.release))
        result = asyncio.wrap_future(running)
        try:
            done, _ = await asyncio.wait((result,), timeout=self._timeout_s)
        except asyncio.CancelledError:
            running.cancel()  # a call not yet started never starts; a running one ends alone
            raise
        if done:
            try:
                return result.result()
            except BrokenExecutor:
                self._renew(pool)
                raise
        running.cancel()
        result.add_done_callback(_retrieve)
        raise RouteTimeout(f"{self._name} did not return within {self._timeout_s:g} s")

    def _forget_abandoned(self, call: asyncio.Future[Any]) -> None:
        self._abandoned.discard(call)
        _retrieve(call)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """Run ``callback`` on ``loop`` from a pool's thread; nothing once the loop is closed."""
    with contextlib.suppress(RuntimeError):  # the loop closed while an abandoned call ran
        loop.call_soon_threadsafe(callback)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Read an abandoned call's error, so asyncio does not report it as never retrieved."""
    if not future.cancelled():
        future.exception()


# In a pool worker process: the pipeline's route, set once by the pool's initializer.
_adopted: Callable[..., Any] | None = None


def _adopt(pickled: bytes, name: str) -> None:
    global _adopted
    _leave_with_parent()
    _adopted = getattr(pickle.loads(pickled), name)


def _leave_with_parent() -> None:
    """End this pool worker when the processor process that started it ends, however it ends.

    A processor killed with SIGKILL never shuts its pool down, and a worker blocked reading the
    pool's call queue would wait for ever: it holds that pipe's write end too.
    """
    import multiprocessing
    import multiprocessing.connection

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _ready() -> bool:
    return _adopted is not None


def _one_line(error: BaseException) -> str:
    return " ".join(repr(error).split())


def _run_adopted(*args: Any) -> Any:
    assert _adopted is not None
    return _adopted(*args)
