"""Counters the processor keeps about itself (read by tests, logs and metrics)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Stats:
    consumed: int = 0
    # Acknowledged by the broker, by destination topic (outputs and the dead-letter topic).
    acknowledged: Counter[str] = field(default_factory=Counter)
    dead_lettered: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stage, class)
    dropped: int = 0
    handler_retries: int = 0
    producer_retries: int = 0
    pauses: int = 0
    resumes: int = 0
    commits: int = 0
    commit_failures: int = 0
    rebalances: int = 0
    released_on_revoke: int = 0
    undecodable: int = 0  # records the client library could not decode, read raw instead
