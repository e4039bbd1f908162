"""Every command explains itself: each of its arguments has help text in ``--help``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from processor.commands.cli import build_parser


def commands(
    parser: argparse.ArgumentParser, name: str = "processor"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, subparser in action.choices.items():
                yield from commands(subparser, f"{name} {command}")


def test_every_argument_of_every_command_has_help_text() -> None:
    silent = [
        f"{name} {action.option_strings or action.dest}"
        for name, parser in commands(build_parser())
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert silent == []
