"""What runs: the processor's version, read from its installed distribution (pyproject.toml is the
one place it is written), and the versions it runs on."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "kafka-record-processor"
UNKNOWN = "unknown"


def installed_version(distribution: str = DISTRIBUTION) -> str:
    """The version of an installed distribution; ``unknown`` when it is not installed (a
    checkout on ``PYTHONPATH``)."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return UNKNOWN


def build_info() -> dict[str, str]:
    """The labels of ``processor_build_info`` and what ``processor --version`` says."""
    return {
        "version": installed_version(),
        "python": platform.python_version(),
        "aiokafka": installed_version("aiokafka"),
    }


def version_line() -> str:
    info = build_info()
    return f"processor {info['version']} (Python {info['python']}, aiokafka {info['aiokafka']})"
