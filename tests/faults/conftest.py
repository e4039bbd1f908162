from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.campaign import ScenarioResult, write_report


@pytest.fixture(scope="session")
def campaign() -> Iterator[list[ScenarioResult]]:
    """Scenario results; written as a markdown report when RELIABILITY_REPORT names a file."""
    results: list[ScenarioResult] = []
    yield results
    target = os.environ.get("RELIABILITY_REPORT")
    if target and results:
        write_report(results, Path(target))
