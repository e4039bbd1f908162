"""The supervisor's view of its processes: their metrics and probes, read over their Unix sockets.

Each process serves ``/metrics``, ``/healthz`` and ``/readyz`` on a socket of its own; the
supervisor answers on the instance's port for all of them, so scrapers and probes keep one
address. Metrics are merged family by family with a ``process`` label added to every sample;
a probe is healthy (ready) only when every process says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

FETCH_TIMEOUT_S = 2.0
PROCESS_LABEL = "process"


@dataclass(frozen=True, slots=True)
class Answer:
    """What one process said: an HTTP status and body (status 0: it could not be asked)."""

    status: int
    body: bytes


async def fetch(socket: Path, path: str, timeout_s: float = FETCH_TIMEOUT_S) -> Answer:
    """GET ``path`` from the HTTP server on the Unix socket ``socket``."""
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_unix_connection(socket)
            try:
                writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
                await writer.drain()
                raw = await reader.read()
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        return Answer(0, f"unreachable: {exc!r}".encode())
    return parse_response(raw)


def parse_response(raw: bytes) -> Answer:
    """Status and body of a whole HTTP/1.1 response (the server closes after one)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return Answer(0, b"unreadable answer")
    return Answer(int(parts[1]), body)


def labelled(sample: str, label: str, value: str) -> str:
    """A Prometheus sample line with ``label="value"`` added first to its label set."""
    pair = f'{label}="{value}"'
    for index, char in enumerate(sample):
        if char == "{":
            rest = sample[index + 1 :]
            return f"{sample[: index + 1]}{pair}{'' if rest.startswith('}') else ','}{rest}"
        if char == " ":
            return f"{sample[:index]}{{{pair}}}{sample[index:]}"
    return sample


@dataclass(slots=True)
class _Family:
    meta: dict[str, str] = field(default_factory=dict)  # HELP and TYPE, as the first one said
    samples: list[str] = field(default_factory=list)


def merge_metrics(expositions: Sequence[tuple[str, str]], label: str = PROCESS_LABEL) -> str:
    """One exposition from ``(process, text)`` pairs: each family once, its samples from every
    process, each sample labelled with its process."""
    families: dict[str, _Family] = {}
    for process, text in expositions:
        current = families.setdefault("", _Family())
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                words = line.split(" ", 3)
                if len(words) < 3 or words[1] not in ("HELP", "TYPE"):
                    continue  # a comment
                current = families.setdefault(words[2], _Family())
                current.meta.setdefault(words[1], line)
                continue
            current.samples.append(labelled(line, label, process))
    lines: list[str] = []
    for family in families.values():
        lines.extend(family.meta.values())
        lines.extend(family.samples)
    return "\n".join(lines) + "\n" if lines else ""
