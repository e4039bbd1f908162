"""The benchmark's input: ledger transactions of a chosen size, a share of them invalid.

Records are generated from a seed, so every contender reads byte-identical data. Values carry no
newline or tab, so the kcat contender can pipe them as text lines.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

ACCOUNTS = 1000  # distinct keys by default
# Key counts of the pipeline curves: few keys bound a keyed route, many leave it to concurrency.
FEW_KEYS = 200
MANY_KEYS = 100_000
# Broken the ways the pipeline must catch: JSON, types, ranges, patterns, missing fields.
_INVALID_CHANGES: tuple[dict[str, object], ...] = (
    {"amount": "12.345"},
    {"amount": -5},
    {"currency": "eur"},
    {"quantity": 0},
    {"op": "steal"},
    {"account": ""},
    {"ts": "2026-11-22T10:00:00"},
)


@dataclass(frozen=True, slots=True)
class InputRecord:
    key: bytes
    value: bytes
    valid: bool


def partition_for(key: bytes, partitions: int) -> int:
    """Our own stable key-to-partition map (per-key order only needs it to be stable)."""
    return zlib.crc32(key) % partitions


def transaction_value(record_id: str, account: str, rng: random.Random, size: int) -> bytes:
    body: dict[str, object] = {
        "id": record_id,
        "account": account,
        "op": "add" if rng.random() < 0.7 else "refund",
        "amount": f"{rng.randrange(1, 500_000) / 100:.2f}",
        "currency": rng.choice(("EUR", "USD", "GBP")),
        "quantity": rng.randrange(1, 20),
        "ts": "2026-11-22T10:00:00Z",
        "merchant": f"merchant-{rng.randrange(10_000)}",
        "memo": "",
    }
    return _padded(body, size)


def _padded(body: dict[str, object], size: int) -> bytes:
    """Fill the ignored ``memo`` field so the JSON is ``size`` bytes (or as small as it gets)."""
    bare = json.dumps(body, separators=(",", ":")).encode()
    body["memo"] = "m" * max(0, size - len(bare))
    return json.dumps(body, separators=(",", ":")).encode()


def records(
    count: int,
    *,
    size: int = 400,
    invalid_ratio: float = 0.01,
    seed: int = 7,
    prefix: str = "tx",
    keys: int = ACCOUNTS,
    even_keys: bool = False,
) -> Iterator[InputRecord]:
    """``count`` records; about ``invalid_ratio`` of them break a rule or are not JSON at all.
    Keys are accounts, drawn uniformly from ``keys`` distinct ones; with ``even_keys`` each
    key gets the same number of records (in turn), so no key is busier than the others."""
    rng = random.Random(seed)
    invalid_every = round(1 / invalid_ratio) if invalid_ratio > 0 else 0
    for index in range(count):
        drawn = rng.randrange(keys)  # drawn either way: the values stay the same
        account = f"acct-{index % keys if even_keys else drawn}"
        value = transaction_value(f"{prefix}-{index}", account, rng, size)
        if invalid_every and index % invalid_every == invalid_every - 1:
            yield InputRecord(account.encode(), _broken(value, index // invalid_every, size), False)
        else:
            yield InputRecord(account.encode(), value, True)


def _broken(value: bytes, variant: int, size: int) -> bytes:
    choices = len(_INVALID_CHANGES) + 1
    if variant % choices == 0:
        return b"{not json " + value[: max(0, size - 10)]
    body = json.loads(value)
    body.update(_INVALID_CHANGES[variant % choices - 1])
    return _padded(body, size)
