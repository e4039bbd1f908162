"""Every command meets an operator's problem with one line on stderr and a documented exit
status, never a traceback: an unreachable cluster, an unknown topic, a missing TLS file, a
pipeline that fails to load, a value that is infinite or absurdly long, a misspelt variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.commands.cli import main
from processor.commands.common import EXIT_USAGE, usage_error
from processor.commands.failures import EXIT_UNAVAILABLE
from processor.config import Settings
from tests.conftest import free_ports
from tests.processes import ROOT
from tests.tools.support import EXAMPLES, flags

SAMPLE = str(EXAMPLES / "transactions.jsonl")
# Every command that talks to the cluster.
COMMANDS = [
    ["run", "--startup-timeout-s", "1"],
    ["topics", "ensure"],
    ["produce", SAMPLE],
    ["dlq", "list"],
    ["dlq", "show", "0"],
    ["dlq", "stats"],
    ["dlq", "replay"],
    ["audit"],
    ["status"],
    ["status", "--watch", "1"],
]
LONG_VALUE = "9" * 5000
# An error line quotes at most a short piece of any value.
MAX_LINE_CHARS = 300


def processor(*argv: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """``processor ARGV`` as a separate process: one process, no HTTP, console logs at error."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROCESSOR_")},
        "PYTHONPATH": str(ROOT),
        "PROCESSOR_HTTP_PORT": "0",
        "PROCESSOR_PROCESSES": "1",
        "PROCESSOR_LOG_FORMAT": "console",
        "PROCESSOR_LOG_LEVEL": "error",
        **env,
    }
    command = [sys.executable, "-m", "processor", *argv]
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert len(lines[0]) <= MAX_LINE_CHARS, lines[0][:1000]
    return lines[0]


@pytest.fixture(scope="module")
def closed_port() -> str:
    """An address where nothing listens: connections are refused at once."""
    return f"127.0.0.1:{free_ports(1)[0]}"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unreachable_cluster_is_one_line_naming_it_and_exit_4(
    command: list[str], closed_port: str
) -> None:
    done = processor(*command, "--bootstrap-servers", closed_port)
    assert done.returncode == EXIT_UNAVAILABLE, done.stderr
    line = one_line(done)
    assert line.startswith(f"processor: cannot reach the cluster at {closed_port}: "), line
    assert "Connect call failed" in line


def test_in_json_mode_run_ends_with_one_json_line_saying_why(closed_port: str) -> None:
    done = processor(
        "run", "--startup-timeout-s", "1", "--bootstrap-servers", closed_port,
        PROCESSOR_LOG_FORMAT="json",
    )  # fmt: skip
    assert done.returncode == EXIT_UNAVAILABLE, done.stderr
    event = json.loads(one_line(done))
    assert event["event"] == "failed"
    assert event["exit_code"] == EXIT_UNAVAILABLE
    assert f"cannot reach the cluster at {closed_port}" in event["error"]


def test_audit_of_an_unknown_topic_is_one_line_and_exit_2(settings: Settings) -> None:
    done = processor("audit", *flags(settings), "--input-topic", "no-such-topic-here")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert one_line(done) == "processor: topic 'no-such-topic-here' does not exist"


@pytest.mark.parametrize("command", [["run"], ["dlq", "list"]], ids=" ".join)
def test_a_missing_tls_file_is_one_line_naming_its_path(command: list[str]) -> None:
    done = processor(*command, "--security-protocol", "SSL", "--ssl-cafile", "/no/such/ca.pem")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "'/no/such/ca.pem'" in one_line(done)


BAD_PIPELINES = {
    "raises_at_import.py": 'raise RuntimeError("cannot start\\nat all")\n',
    "factory_raises.py": 'def make():\n    raise ValueError("no database")\n',
}


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("raises_at_import:pipeline", "raised at import: RuntimeError: cannot start at all"),
        ("factory_raises:make", "raised when called: ValueError: no database"),
        ("os:system", "'os:system' is not a pipeline"),
    ],
)
@pytest.mark.parametrize("command", [["run"], ["topics", "ensure"]], ids=" ".join)
def test_a_pipeline_that_cannot_be_loaded_is_one_line_and_exit_2(
    command: list[str], spec: str, said: str, tmp_path: Path
) -> None:
    for name, text in BAD_PIPELINES.items():
        (tmp_path / name).write_text(text)
    done = processor(*command, "--pipeline", spec, cwd=tmp_path)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert said in one_line(done)


TIMEOUT_FLAGS = ["--startup-timeout-s", "--shutdown-timeout-s", "--route-timeout-s"]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999"])
@pytest.mark.parametrize("flag", TIMEOUT_FLAGS)
def test_a_timeout_must_be_finite(flag: str, value: str) -> None:
    done = processor("run", f"{flag}={value}")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert flag in one_line(done)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--concurrency", LONG_VALUE],
        ["run", "--route-timeout-s", LONG_VALUE],
        ["run", "--input-topic", "x" * 5000],
        ["dlq", "list", "--until", LONG_VALUE],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_a_long_value_is_cut_when_echoed(argv: list[str]) -> None:
    done = processor(*argv)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "…" in one_line(done)


def test_a_long_value_in_the_environment_is_cut_too() -> None:
    done = processor("run", PROCESSOR_BATCH_MAX_WAIT_MS=LONG_VALUE)
    assert done.returncode == EXIT_USAGE
    assert "PROCESSOR_BATCH_MAX_WAIT_MS" in one_line(done)


def test_a_misspelt_variable_is_a_warning_naming_the_closest_setting(closed_port: str) -> None:
    done = processor("dlq", "list", "--bootstrap-servers", closed_port, PROCESSOR_WORKRES="4")
    warning, error = done.stderr.splitlines()
    assert "PROCESSOR_WORKRES" in warning
    assert "did you mean PROCESSOR_WORKERS/CONCURRENCY?" in warning
    assert error.startswith("processor: cannot reach the cluster")


def test_run_logs_the_misspelt_variable_as_a_json_warning(closed_port: str) -> None:
    done = processor(
        "run", "--startup-timeout-s", "1", "--bootstrap-servers", closed_port,
        PROCESSOR_LOG_FORMAT="json", PROCESSOR_LOG_LEVEL="warning", PROCESSOR_INPUT_TOPC="x",
    )  # fmt: skip
    events = [json.loads(line) for line in done.stderr.splitlines()]
    unknown = [e for e in events if e["event"] == "unknown_setting"]
    assert len(unknown) == 1, events
    assert "did you mean PROCESSOR_INPUT_TOPIC?" in unknown[0]["problem"]


# Flags argparse refuses: one line naming the flag, in every command, and exit status 2.
USAGE_ERRORS = [
    (["run", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["topics", "ensure", "extra"], "unrecognized arguments: extra"),
    (["produce"], "the following arguments are required: FILE"),
    (["produce", SAMPLE, "--rate", "fast"], "--rate: expected a finite number, 0 or more"),
    (["dlq", "list", "--tail", "x"], "--tail: expected a whole number, 0 or more, got 'x'"),
    (["dlq", "stats", "--limit", "x"], "--limit: expected a whole number, 0 or more, got 'x'"),
    (["dlq", "show", "x"], "P/OFFSET: expected P/OFFSET like 0/42, or an OFFSET, got 'x'"),
    (["dlq", "stats", "--bucket", "5m"], "--bucket: invalid choice: '5m'"),
    (["dlq", "replay", "--since", "May"], "--since: expected an RFC 3339 time"),
    (["audit", "--isolation", "x"], "--isolation: invalid choice: 'x'"),
    (["archive", "t"], "the following arguments are required: --to"),
    (["broker", "up", "--port", "x"], "--port: invalid int value: 'x'"),
    (["broker", "status", "--nodes", "0"], "--nodes: "),
    (["nosuch"], "COMMAND: invalid choice: 'nosuch'"),
    ([], "the following arguments are required: COMMAND"),
]


@pytest.mark.parametrize(("argv", "said"), USAGE_ERRORS, ids=lambda v: " ".join(v) or "-")
def test_a_flag_argparse_refuses_is_one_line_naming_it_and_exit_2(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == EXIT_USAGE
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"processor: error: {said}"), line


@given(st.text())
def test_a_usage_error_is_always_one_line(message: str) -> None:
    assert len(usage_error(message).splitlines()) <= 1


def test_a_usage_error_names_the_flag_without_argparses_words() -> None:
    message = "argument --rate/-r: invalid float value: 'x'"
    assert usage_error(message) == "--rate: invalid float value: 'x'"
    assert usage_error("argument OFFSET: bad\nvalue") == "OFFSET: bad value"
