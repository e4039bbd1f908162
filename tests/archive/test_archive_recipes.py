"""docs/archive.md's analysis recipes, run as written on the archive of the end-to-end test.

The recipes name the topics ``transactions.*`` under ``archive/``; the test's archive is copied
there under those names (the test's topics are its own), and the pyarrow recipe's day is the
day the records were produced.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.archive.conftest import RECORDS, Archived
from tests.archive.support import main_files, read_files

PAGE = Path(__file__).resolve().parents[2] / "docs" / "archive.md"


def recipes() -> list[tuple[str, str]]:
    """(language, code) of each fenced block of the page's analysis recipes."""
    text = PAGE.read_text()
    start = text.index("## Analysis recipes")
    end = text.find("\n## ", start)
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"```(sql|python)\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture
def workspace(archived: Archived, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``archive/`` in the current directory, holding the test's archive as ``transactions``."""
    s = archived.settings
    names = {s.input_topic: "transactions", s.dead_letter_topic: "transactions.dlq"}
    names |= {
        topic: "transactions" + topic.removeprefix(s.input_topic) for topic in archived.outputs
    }
    for topic, alias in names.items():
        shutil.copytree(archived.root / f"topic={topic}", tmp_path / "archive" / f"topic={alias}")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "archive"


def test_the_page_has_the_three_recipes() -> None:
    assert [language for language, _ in recipes()] == ["sql", "sql", "python"]


def query(sql: str) -> list[tuple[Any, ...]]:
    relation = duckdb.sql(sql)
    assert relation is not None
    return relation.fetchall()


def test_dead_letters_per_class_and_hour(archived: Archived, workspace: Path) -> None:
    rows = query(recipes()[0][1])
    by_class: Counter[str] = Counter()
    for error_class, hour, count in rows:
        assert hour is not None
        by_class[error_class] += count
    letters = read_files(main_files(archived.root, archived.settings.dead_letter_topic))
    assert by_class == Counter(letters["dlq_error_class"].to_pylist())
    assert by_class.total() == RECORDS // 10


def test_totals_per_account_from_the_outputs(archived: Archived, workspace: Path) -> None:
    rows = query(recipes()[1][1])
    expected: dict[tuple[str, str], Decimal] = {}
    for topic in archived.outputs:
        for row in read_files(main_files(archived.root, topic)).to_pylist():
            key = (row["account"], row["currency"])
            expected[key] = expected.get(key, Decimal(0)) + row["sign"] * row["total"]
    assert {(account, currency): balance for account, currency, balance, _ in rows} == expected
    assert sum(entries for *_, entries in rows) == RECORDS - RECORDS // 10


def test_one_day_with_pyarrow(archived: Archived, workspace: Path) -> None:
    folder = next((workspace / "topic=transactions.additions").iterdir())
    code = recipes()[2][1].replace("2026-11-22", folder.name.removeprefix("date="))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, {})
    rows = read_files(sorted(folder.glob("*.parquet"))).num_rows
    assert printed.getvalue().startswith(f"{rows} ['topic', 'partition', 'offset',")
