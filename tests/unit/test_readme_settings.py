"""The README's settings table names every setting there is, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from processor.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def table_names() -> set[str]:
    text = README.read_text()
    section = text[text.index("## Settings") :]
    section = section[: section.index("\n## ", 1)]
    names: set[str] = set()
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) > 2 and "`" in cells[1]:
            names.update(re.findall(r"`([A-Z0-9_]+)`", cells[1]))
    return names


def test_the_settings_table_names_exactly_the_settings() -> None:
    assert table_names() == {name.upper() for name in Settings.model_fields}
