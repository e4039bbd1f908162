"""Every codec Kafka supports is installed with the package, and so in the image.

Other producers compress with snappy, lz4 and zstd by default; without their library aiokafka
cannot read those batches. The image installs the lock file, which pins everything the package
declares (tests/deploy/test_image.py), so what the package declares is what the container has.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from aiokafka import codec
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
CODECS = ("snappy", "lz4", "zstd")


def aiokafka_requirement() -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(text) for text in project["dependencies"]]
    return next(req for req in found if req.name == "aiokafka")


def test_the_package_depends_on_aiokafka_with_every_codec() -> None:
    assert set(CODECS) <= aiokafka_requirement().extras


@pytest.mark.parametrize("name", ["gzip", *CODECS])
def test_each_codec_library_is_installed(name: str) -> None:
    assert getattr(codec, f"has_{name}")()


def test_the_image_installs_every_codec_library_the_package_needs() -> None:
    # The image installs requirements.lock (test_image checks it pins all the package needs).
    locked = (ROOT / "requirements.lock").read_text()
    assert "pip install --require-hashes" in (ROOT / "Dockerfile").read_text()
    for module in ("cramjam",):  # aiokafka's lz4, snappy and zstd support
        assert f"\n{module}==" in locked
