"""The supervisor's pure parts: the settings of its processes, its exit code, merged metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor import config
from processor.instance.endpoints import Answer, labelled, merge_metrics, parse_response
from processor.instance.supervisor import (
    ENV_PREFIX,
    Plan,
    child_settings,
    exit_code,
    setting_variables,
)


def test_a_process_gets_its_part_of_the_instance_as_settings() -> None:
    plan = Plan(processes=2, client_id="orders-pod-0")
    assert child_settings(plan, 1, Path("/run/p/1.sock")) == {
        "processes": "1",
        "http_unix_socket": "/run/p/1.sock",
        "client_id": "orders-pod-0-1",
    }


def test_static_members_get_an_id_each() -> None:
    plan = Plan(processes=2, client_id="c", group_instance_id="pod-0")
    ids = [child_settings(plan, i, Path("s"))["group_instance_id"] for i in (0, 1)]
    assert ids == ["pod-0-0", "pod-0-1"]


def test_settings_travel_as_the_variables_that_set_them() -> None:
    assert setting_variables({"sasl_password": "x", "input_topic": "t"}) == {
        "PROCESSOR_SASL_PASSWORD": "x",
        "PROCESSOR_INPUT_TOPIC": "t",
    }
    assert ENV_PREFIX == config.ENV_PREFIX


def test_a_plan_survives_the_command_line() -> None:
    plan = Plan(processes=3, client_id="c", http_port=9000, log_format="json")
    assert Plan.from_json(plan.to_json()) == plan


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([0, 0], 0),
        ([3, 0], 3),  # a halt, then the other stopped cleanly
        ([0, 3], 3),
        ([-9, 0], 137),  # SIGKILLed, as a shell reports it
        ([1, -15], 1),  # the first failure is the cause
    ],
)
def test_the_instance_exits_with_the_first_failure(codes: list[int], expected: int) -> None:
    assert exit_code(codes) == expected


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("up 1.0", 'up{process="0"} 1.0'),
        ('lag{topic="t",partition="1"} 5.0', 'lag{process="0",topic="t",partition="1"} 5.0'),
        ("empty{} 2.0", 'empty{process="0"} 2.0'),
    ],
)
def test_a_sample_gets_the_process_label(sample: str, expected: str) -> None:
    assert labelled(sample, "process", "0") == expected


EXPOSITION = """\
# HELP consumed_total Records taken in.
# TYPE consumed_total counter
consumed_total {n}.0
# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{{le="+Inf"}} {n}.0
latency_seconds_count {n}.0
"""


def test_merged_metrics_name_each_family_once_with_every_process_sample() -> None:
    merged = merge_metrics([("0", EXPOSITION.format(n=3)), ("1", EXPOSITION.format(n=4))])
    assert merged.splitlines() == [
        "# HELP consumed_total Records taken in.",
        "# TYPE consumed_total counter",
        'consumed_total{process="0"} 3.0',
        'consumed_total{process="1"} 4.0',
        "# HELP latency_seconds Latency.",
        "# TYPE latency_seconds histogram",
        'latency_seconds_bucket{process="0",le="+Inf"} 3.0',
        'latency_seconds_count{process="0"} 3.0',
        'latency_seconds_bucket{process="1",le="+Inf"} 4.0',
        'latency_seconds_count{process="1"} 4.0',
    ]


def test_no_answers_merge_to_nothing() -> None:
    assert merge_metrics([]) == ""


def test_an_http_answer_gives_status_and_body() -> None:
    raw = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\n\r\nstopping\n"
    assert parse_response(raw) == Answer(503, b"stopping\n")
    assert parse_response(b"garbage").status == 0
