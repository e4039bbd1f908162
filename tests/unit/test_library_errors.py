"""A Kafka error left in a library task nobody awaits is one warning line, not a traceback;
anything else still reaches the handler that was there before."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka.errors import ProducerFenced

from processor.library_errors import report_library_errors_briefly
from processor.logs import configure_logging


def test_a_kafka_error_is_one_warning_line_and_other_errors_go_to_the_earlier_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "json")
    loop = asyncio.new_event_loop()
    earlier: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: earlier.append(context))
    try:
        report_library_errors_briefly(loop)
        loop.call_exception_handler(
            {"message": "Future exception was never retrieved", "exception": ProducerFenced()}
        )
        loop.call_exception_handler({"message": "a bug", "exception": ZeroDivisionError()})
    finally:
        loop.close()

    [line] = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert entry["event"] == "library_task_error"
    assert entry["level"] == "warning"
    assert "ProducerFenced" in entry["error"]
    assert "Traceback" not in line
    assert [context["message"] for context in earlier] == ["a bug"]
