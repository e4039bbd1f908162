"""One source for the version: the installed distribution's metadata, from pyproject.toml."""

from __future__ import annotations

import platform
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import processor
from processor.commands.cli import main
from processor.telemetry.health import LoopLagProbe
from processor.telemetry.metrics import ProcessorCollector
from processor.telemetry.names import BUILD_INFO
from processor.version import DISTRIBUTION
from tests.observability.test_metric_names import StandInView

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_version_is_the_one_pyproject_gives() -> None:
    assert PYPROJECT["name"] == DISTRIBUTION
    assert processor.__version__ == version(DISTRIBUTION) == PYPROJECT["version"]


def test_processor_version_names_the_versions_it_runs_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    expected = (
        f"processor {PYPROJECT['version']} (Python {platform.python_version()}, "
        f"aiokafka {version('aiokafka')})"
    )
    assert capsys.readouterr().out.strip() == expected


def test_build_info_is_1_labelled_with_the_versions() -> None:
    registry = CollectorRegistry()
    registry.register(ProcessorCollector(StandInView(), LoopLagProbe()))
    text = generate_latest(registry).decode()
    [family] = [f for f in text_string_to_metric_families(text) if f.name == BUILD_INFO.name]
    [sample] = family.samples
    assert sample.value == 1
    assert sample.labels == {
        "version": PYPROJECT["version"],
        "python": platform.python_version(),
        "aiokafka": version("aiokafka"),
    }


def test_no_file_but_pyproject_writes_the_version_down() -> None:
    written = re.compile(rf"(?<![\d.]){re.escape(PYPROJECT['version'])}(?![\d.])")
    files = [p for place in ("processor", "deploy") for p in sorted((ROOT / place).rglob("*"))]
    files += [ROOT / "Dockerfile", ROOT / "docker-compose.yml"]
    found = [
        str(p.relative_to(ROOT))
        for p in files
        if p.is_file()
        and p.suffix in ("", ".py", ".yaml", ".yml", ".toml", ".json")
        and written.search(p.read_text(errors="replace"))
    ]
    # The image a deployment runs is the deployer's pin, set in one place.
    assert found == ["deploy/kubernetes/kustomization.yaml"]
