"""Process-wide tuning for a long-running processor: the cyclic garbage collector's thresholds.

Every record allocates a few dozen small containers, and the ones in flight (up to the queue's
capacity) survive a young collection, so with CPython's defaults (a collection every 700
allocations) the collector keeps rescanning the in-flight window and promoting it, which took
15-20% of the processor's CPU. Nearly everything the data path allocates is freed by reference
counting; collecting young objects every 50,000 allocations instead still bounds what a reference
cycle can hold to a few megabytes.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 10


def tune_garbage_collector() -> None:
    """Raise the collector's thresholds, never lower them (an embedding program may have set its
    own)."""
    current = gc.get_threshold()
    wanted = (GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
    if current[0] == 0:  # the collector is switched off: leave it so
        return
    gc.set_threshold(*(max(have, want) for have, want in zip(current, wanted, strict=True)))
