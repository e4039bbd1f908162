"""How log lines show things: partitions as ``topic/partition``, colours only when wanted."""

from __future__ import annotations

import io

import pytest
from aiokafka import TopicPartition

from processor.logs import partitions_as_text, use_colors


def shown(**fields: object) -> dict[str, object]:
    return dict(partitions_as_text(None, "info", dict(fields)))


def test_a_partition_is_shown_as_topic_slash_partition() -> None:
    assert shown(partition=TopicPartition("orders", 3)) == {"partition": "orders/3"}


def test_a_collection_of_partitions_is_a_sorted_list_of_them() -> None:
    owned = {TopicPartition("orders", 1), TopicPartition("orders", 0)}
    assert shown(partitions=owned, listed=[TopicPartition("a", 2)], none=set()) == {
        "partitions": ["orders/0", "orders/1"],
        "listed": ["a/2"],
        "none": [],
    }


def test_the_librarys_reprs_in_a_message_become_topic_slash_partition() -> None:
    message = f"Fetch offset 5 is out of range for partition {TopicPartition('t.x-1', 12)!r}"
    assert shown(event=message) == {
        "event": "Fetch offset 5 is out of range for partition t.x-1/12"
    }


def test_other_values_are_left_alone() -> None:
    fields = {"offset": 5, "where": ("orders", 1), "event": "partition=0"}
    assert shown(**fields) == fields


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("no_color", "colors"), [(None, True), ("", True), ("1", False)])
def test_no_color_turns_colours_off_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, no_color: str | None, colors: bool
) -> None:
    monkeypatch.setattr("sys.stderr", Terminal())
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    assert use_colors() is colors


def test_no_colours_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colors() is False
