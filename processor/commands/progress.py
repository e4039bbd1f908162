"""A progress counter on the terminal; silent when stderr is not one (scripts, CI)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, verb: str, total: int | None = None) -> None:
        self._verb = verb
        self._total = total
        self._on = sys.stderr.isatty()
        self._began = time.monotonic()

    def show(self, done: int) -> None:
        if not self._on:
            return
        rate = done / max(time.monotonic() - self._began, 1e-6)
        of = f"/{self._total}" if self._total is not None else ""
        print(f"\r{self._verb} {done}{of} ({rate:.0f}/s)", end="", file=sys.stderr)

    def done(self) -> None:
        if self._on:
            print(file=sys.stderr)
