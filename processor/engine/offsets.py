"""Which offset of a partition is safe to commit.

Records finish out of order (different keys, different output partitions); the committed offset
may only move past a record once it and every record before it are done.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection


class OffsetTracker:
    """Offsets of one partition that were taken in and are not yet committable.

    One tracker lives for one assignment of a partition. A revoked tracker is dropped from the
    processor's map, so results that arrive late for it can never be committed (fencing).
    """

    __slots__ = ("_first", "_last", "_open", "_window", "revoked")

    def __init__(self) -> None:
        self._window: deque[int] = deque()  # tracked offsets at or after the first open one
        self._open: set[int] = set()  # tracked offsets not yet done
        self._first: int | None = None
        self._last: int | None = None
        self.revoked = False

    def track(self, offset: int) -> None:
        """Take in ``offset``; offsets must increase, as a partition yields them."""
        if self._last is not None and offset <= self._last:
            raise ValueError(f"offset {offset} tracked after {self._last}")
        if self._first is None:
            self._first = offset
        self._last = offset
        self._window.append(offset)
        self._open.add(offset)

    def mark_done(self, offset: int) -> int:
        """Record that ``offset`` is finished; returns how many offsets left the window."""
        if offset not in self._open:
            return 0
        self._open.remove(offset)
        window = self._window
        before = len(window)
        while window and window[0] not in self._open:
            window.popleft()
        return before - len(window)

    def committable(self) -> int | None:
        """The offset to commit (the next one to read), or None before anything was tracked."""
        if self._last is None:
            return None
        return self._window[0] if self._window else self._last + 1

    def highest_started(self, queued: Collection[int]) -> int:
        """The highest offset taken in that is not in ``queued`` (-1 when there is none).

        Given the offsets still queued (never started), what is above the result was never
        started: letting it go leaves no finished record above a hole.
        """
        for offset in reversed(self._window):
            if offset not in queued:
                return offset
        if self._window:  # all queued: everything before them is done (or was never taken in)
            return self._window[0] - 1
        return -1 if self._last is None else self._last

    @property
    def first(self) -> int | None:
        """The first offset tracked: where this assignment began reading."""
        return self._first

    @property
    def taken(self) -> int | None:
        """The offset after the last one tracked (None before anything was)."""
        return None if self._last is None else self._last + 1

    @property
    def window(self) -> int:
        """Offsets held from the first unfinished one on: what a restart would read again."""
        return len(self._window)

    @property
    def in_flight(self) -> int:
        """Offsets taken in and not yet done."""
        return len(self._open)
