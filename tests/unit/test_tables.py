"""Tables that fit the terminal: padded columns, the widest cut first, every line within width."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.commands.tables import (
    DEFAULT_WIDTH,
    ELLIPSIS,
    MIN_COLUMN,
    cut,
    fitted_widths,
    table,
    terminal_width,
    text_width,
)

cells = st.text(max_size=30)


def test_a_table_pads_every_column_to_its_widest_cell() -> None:
    assert table([["a", "long cell"], ["bbb", "c"]], ["X", "Y"], width=80).splitlines() == [
        "X    Y",
        "a    long cell",
        "bbb  c",
    ]


def test_the_widest_column_is_cut_first_and_says_so() -> None:
    rows = [["0/12", "validate", "x" * 100]]
    head, row = table(rows, ["SOURCE", "STAGE", "MESSAGE"], width=40).splitlines()
    assert row.startswith("0/12    validate  xxx")
    assert row.endswith(ELLIPSIS)
    assert text_width(row) == 40
    assert head == "SOURCE  STAGE     MESSAGE"


def test_wide_characters_take_two_columns() -> None:
    assert text_width("日本") == 4
    assert cut("日本語", 5) == "日本" + ELLIPSIS
    assert text_width(cut("日本語", 4)) <= 4


def test_a_cut_keeps_what_fits_and_marks_it() -> None:
    assert cut("abcdef", 6) == "abcdef"
    assert cut("abcdef", 4) == "abc" + ELLIPSIS
    assert cut("abcdef", 1) == ELLIPSIS
    assert cut("abcdef", 0) == ""


def test_width_follows_columns_and_is_80_without_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "132")
    assert terminal_width() == 132
    monkeypatch.delenv("COLUMNS")
    assert terminal_width() == DEFAULT_WIDTH  # pytest captures stdout: no terminal


@given(st.lists(st.integers(0, 200), min_size=1, max_size=8), st.integers(1, 300))
def test_fitted_widths_never_grow_a_column_and_fit_when_the_minimums_allow(
    natural: list[int], width: int
) -> None:
    widths = fitted_widths(natural, width)
    assert all(w <= n for w, n in zip(widths, natural, strict=True))
    assert all(w >= min(n, MIN_COLUMN) for w, n in zip(widths, natural, strict=True))
    least = sum(min(n, MIN_COLUMN) for n in natural) + 2 * (len(natural) - 1)
    if width >= least:
        assert sum(widths) + 2 * (len(natural) - 1) <= width
    if sum(natural) + 2 * (len(natural) - 1) <= width:
        assert widths == natural  # nothing cut when it fits


@given(
    st.integers(1, 4).flatmap(
        lambda n: st.tuples(
            st.lists(cells, min_size=n, max_size=n),
            st.lists(st.lists(cells, min_size=n, max_size=n), max_size=5),
        )
    ),
    st.integers(1, 200),
)
def test_every_line_fits_the_width_and_there_is_one_per_row(
    shape: tuple[list[str], list[list[str]]], width: int
) -> None:
    header, rows = shape
    lines = table(rows, header, width).split("\n")
    assert len(lines) == len(rows) + 1
    assert all(text_width(line) <= width for line in lines)
