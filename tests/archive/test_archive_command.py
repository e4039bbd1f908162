"""Bad arguments, settings and installs: one readable line, a documented exit status, no trace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from processor.commands.archive import MISSING_PYARROW, default_group
from tests.archive.support import environment
from tests.processes import ROOT


def archive(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"import sys; {prelude}from processor.commands.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, "archive", *args],
        cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    return lines[-1]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["t", "--to", "/tmp/x", "--archive-compression", "lz4"], "--archive-compression"),
        (["t", "--to", "/tmp/x", "--archive-file-max-records", "0"], "--archive-file-max-records"),
        (["bad/topic", "--to", "/tmp/x"], "not a Kafka topic name: 'bad/topic'"),
        (["t"], "the following arguments are required: --to"),
        (["t", "--to", " "], "expected a folder or a filesystem URL"),
        (["t", "--to", "nosuch://bucket/x"], "cannot open 'nosuch://bucket/x'"),
    ],
)
def test_a_bad_argument_or_setting_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    done = archive(*args)
    assert done.returncode == 2
    assert says in one_line(done)


def test_without_pyarrow_the_command_says_how_to_install_it() -> None:
    done = archive("t", "--to", "/tmp/x", prelude="sys.modules['pyarrow'] = None; ")
    assert done.returncode == 2
    assert one_line(done) == MISSING_PYARROW


def test_a_missing_topic_is_one_line_and_exit_4(bootstrap_servers: str, tmp_path: Path) -> None:
    done = archive(
        "t-never-created", "--to", str(tmp_path), "--once", "--startup-timeout-s", "2",
        "--bootstrap-servers", bootstrap_servers, "--http-port", "0",
    )  # fmt: skip
    assert done.returncode == 4, done.stderr[-2000:]
    assert one_line(done) == "processor archive: topic 't-never-created' does not exist"


def test_the_default_group_is_the_same_for_the_same_topics_in_any_order() -> None:
    assert default_group(["b", "a", "b"]) == default_group(["a", "b"]) == "archive.a+b"
