"""Every ``processor`` command line in the README and the docs' shell examples parses: a flag
renamed or removed fails here, not in a reader's terminal."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from processor.commands.cli import build_parser
from tests.processes import ROOT

PAGES = [ROOT / "README.md", ROOT / "examples" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def documented_commands(page: Path) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines()]
    return [
        line.split(" #")[0].strip().removeprefix(".venv/bin/")
        for line in lines
        if re.match(r"(\.venv/bin/)?processor ", line)
    ]


COMMANDS = [line for page in PAGES for line in documented_commands(page)]


def test_the_pages_show_commands() -> None:
    assert len(COMMANDS) > 20


@pytest.mark.parametrize("line", COMMANDS)
def test_a_documented_command_line_parses(line: str) -> None:
    argv = shlex.split(line)[1:]
    build_parser().parse_args(argv)
