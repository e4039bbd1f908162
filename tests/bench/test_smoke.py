"""The benchmark harness's smoke run works against the session broker and writes its results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMOKE_CONTENDERS = {"processor", "textbook", "aiokafka_batch"}


@pytest.mark.timeout(300)
def test_smoke_run_writes_a_row_per_contender(bootstrap_servers: str, tmp_path: Path) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers}
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    table = (tmp_path / "latest.md").read_text()
    results = json.loads((tmp_path / "latest.json").read_text())
    rows = {row["name"]: row for row in results["contenders"]}
    assert set(rows) == SMOKE_CONTENDERS
    for name, row in rows.items():
        assert row["status"] == "ok", row
        assert row["throughput"] > 0, name
        assert row["peak_rss_mib"] > 0, name
        assert row["cpu_s_per_100k"] > 0, name
        assert row["label"] in table
