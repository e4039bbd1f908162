"""Which records of a topic a read_committed consumer sees, and which belong to transactions that
were aborted or are still open.

Kafka does not say which records a transaction aborted; a read_committed consumer just skips
them. So compare two reads of the topic: read_uncommitted (every data record) and
read_committed (up to each partition's last stable offset, below which every transaction is
settled). A record only the first read returns was aborted if it lies below that offset; at or
above it, its transaction (or an earlier one in the partition) was still open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from processor.config import IsolationLevel


@dataclass(frozen=True, slots=True)
class Visibility:
    """One topic's records, by what became of their transaction (each list in partition order)."""

    everything: list[Any]  # what read_uncommitted returns
    committed: list[Any]  # what read_committed returns
    aborted: list[Any]
    open: list[Any]

    def seen_under(self, isolation: IsolationLevel) -> list[Any]:
        """The records a consumer reading with ``isolation`` gets."""
        return self.committed if isolation == "read_committed" else self.everything


def classify(
    uncommitted: Iterable[Any], committed: Iterable[Any], stable_ends: Mapping[int, int]
) -> Visibility:
    """Split a topic's records by the fate of their transaction.

    ``uncommitted`` and ``committed`` are the topic read with each isolation level, the committed
    read first: then it returns nothing the uncommitted read lacks. ``stable_ends`` holds each
    partition's end as the committed read saw it (its last stable offset).
    """
    everything, visible = list(uncommitted), list(committed)
    seen = {(r.partition, r.offset) for r in visible}
    hidden = [r for r in everything if (r.partition, r.offset) not in seen]
    aborted = [r for r in hidden if r.offset < stable_ends.get(r.partition, 0)]
    still_open = [r for r in hidden if r.offset >= stable_ends.get(r.partition, 0)]
    return Visibility(everything, visible, aborted, still_open)
