"""The dead-letter flood guard: halt instead of dead-lettering a whole stream after a bad deploy."""

from __future__ import annotations

import math
from fractions import Fraction


class DeadLetterGuard:
    """Trips when more than ``max_ratio`` of the last ``window`` outcomes were dead letters.

    Counting against the full window from the start means a new instance that sees nothing but
    bad records trips after ``max_ratio * window`` of them, not after the first one.
    A ratio of 1.0 never trips.
    """

    __slots__ = ("_count", "_limit", "_next", "_ring", "tripped")

    def __init__(self, window: int = 1000, max_ratio: float = 0.5) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        if not 0.0 < max_ratio <= 1.0:
            raise ValueError("max_ratio must be in (0, 1]")
        self._ring = bytearray(window)
        self._next = 0
        self._count = 0
        # Exact: 0.57 * 100 is 56.999... in floating point, and 57 of 100 must not trip.
        self._limit = math.floor(Fraction(str(max_ratio)) * window)
        self.tripped = False

    def observe(self, dead_letter: bool) -> bool:
        """Record one outcome; True once the guard has tripped."""
        ring = self._ring
        index = self._next
        self._count += int(dead_letter) - ring[index]
        ring[index] = dead_letter
        self._next = index + 1 if index + 1 < len(ring) else 0
        if self._count > self._limit:
            self.tripped = True
        return self.tripped

    @property
    def dead_letters_in_window(self) -> int:
        return self._count
