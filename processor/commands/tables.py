"""Tables for a terminal: columns padded to their widest cell, cut with "…" to fit its width.

Pure, but for reading the width. Cells are made printable first (their escapes are what the
terminal shows), then measured in terminal columns: East Asian wide characters take two,
combining marks none.
"""

from __future__ import annotations

import shutil
import unicodedata
from collections.abc import Collection, Sequence

from processor.commands.deadletters import printable

ELLIPSIS = "…"
GAP = "  "
# When not a terminal and COLUMNS says nothing: the width output is read at.
DEFAULT_WIDTH = 80
# A column is never cut narrower than this (unless its widest cell is narrower).
MIN_COLUMN = 3


def terminal_width() -> int:
    """The terminal's width in columns; COLUMNS when set, 80 when stdout is no terminal."""
    return max(1, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)


def char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    """How many terminal columns ``text`` takes (made printable first: no controls)."""
    return sum(char_width(char) for char in text)


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` columns, ending in "…" when something was cut."""
    if text_width(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        size = char_width(char)
        if used + size > width - 1:
            break
        kept.append(char)
        used += size
    return "".join(kept) + ELLIPSIS if width >= 1 else ""


def pad(text: str, width: int) -> str:
    return text + " " * (width - text_width(text))


def fitted_widths(natural: Sequence[int], width: int, first: Collection[int] = ()) -> list[int]:
    """Column widths no wider than ``natural`` whose row fits ``width`` where it can: the
    columns numbered in ``first`` give way first, then the widest, each down to ``MIN_COLUMN``."""
    room = width - len(GAP) * (len(natural) - 1)
    widths = _water_filled(list(natural), room, set(first))
    return widths if sum(widths) <= room else _water_filled(widths, room, set(range(len(natural))))


def _water_filled(widths: list[int], room: int, cuttable: set[int]) -> list[int]:
    """``widths`` with the cuttable ones capped at the widest cap that lets the row fit."""

    def capped(cap: int) -> list[int]:
        return [min(w, max(cap, MIN_COLUMN)) if i in cuttable else w for i, w in enumerate(widths)]

    cap = max(widths, default=0)
    while cap > MIN_COLUMN and sum(capped(cap)) > room:
        cap -= 1
    return capped(cap)


def layout(
    rows: Sequence[Sequence[str]], header: Sequence[str], width: int, first: Collection[int] = ()
) -> list[int]:
    """The column widths ``table`` would use for these rows (kept to format later rows alike)."""
    cells = [[printable(str(cell)) for cell in row] for row in [header, *rows]]
    natural = [max(text_width(cell) for cell in column) for column in zip(*cells, strict=True)]
    return fitted_widths(natural, width, first)


def row_line(row: Sequence[str], widths: Sequence[int], width: int) -> str:
    """One row with these column widths, never wider than ``width``."""
    cells = [pad(cut(printable(str(cell)), w), w) for cell, w in zip(row, widths, strict=True)]
    return cut(GAP.join(cells).rstrip(), width)


def table(
    rows: Sequence[Sequence[str]],
    header: Sequence[str],
    width: int | None = None,
    first: Collection[int] = (),
) -> str:
    """The rows under their header, every line at most ``width`` columns (default: the
    terminal's), the columns numbered in ``first`` cut first; cells made printable first."""
    width = terminal_width() if width is None else width
    widths = layout(rows, header, width, first)
    return "\n".join(row_line(row, widths, width) for row in [header, *rows])
