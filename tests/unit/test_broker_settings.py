"""The local broker's server.properties: our defaults, and `broker up --config` over them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from processor.broker.settings import server_properties
from processor.commands.broker import add_broker_commands


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_a_given_setting_wins_over_ours() -> None:
    data = Path("/data")
    ours = properties(server_properties("127.0.0.1", 9092, 9093, data))
    assert ours["group.initial.rebalance.delay.ms"] == "0"
    given = {"group.initial.rebalance.delay.ms": "3000", "num.io.threads": "2"}
    text = server_properties("127.0.0.1", 9092, 9093, data, given)
    assert properties(text) == {**ours, **given}


def parse_up(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_broker_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["broker", "up", *argv])


def test_broker_up_takes_repeated_key_value_settings() -> None:
    args = parse_up("--config", "a.b=1", "--config", "c = x=y")
    assert args.config == [("a.b", "1"), ("c", "x=y")]


def test_a_setting_without_a_value_is_refused_with_its_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parse_up("--config", "no-equals")
    assert "expected KEY=VALUE, got 'no-equals'" in capsys.readouterr().err
