"""The contenders: each a module runnable as ``python -m bench.contenders.<name>``."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Contender:
    name: str
    module: str
    label: str
    needs_modules: tuple[str, ...] = ()
    needs_binaries: tuple[str, ...] = ()
    validates: bool = True
    stops_itself: bool = True  # at --expect; else the harness stops it once all is committed
    env: tuple[tuple[str, str], ...] = ()  # its variant's settings (environment variables)
    # Writes in transactions: an output is there for a read_committed consumer once its
    # transaction commits, not when it is appended.
    transactional: bool = False

    def missing(self) -> str | None:
        """Why it cannot run here, or None."""
        for module in self.needs_modules:
            if importlib.util.find_spec(module) is None:
                return f"Python package `{module}` is not installed (pip install -e '.[bench]')"
        for binary in self.needs_binaries:
            if shutil.which(binary) is None:
                return f"`{binary}` is not on PATH (apt-get install -y {binary})"
        return None


PROCESSOR = "processor"
TEXTBOOK = "textbook"
FASTSTREAM = "faststream"
EXACTLY_ONCE = "processor_eos"

CONTENDERS: tuple[Contender, ...] = (
    Contender(PROCESSOR, "bench.contenders.processor", "processor (defaults)", stops_itself=False),
    Contender(
        EXACTLY_ONCE,
        "bench.contenders.processor",
        "processor (exactly-once)",
        stops_itself=False,
        env=(("PROCESSOR_GUARANTEE", "exactly-once"),),
        transactional=True,
    ),
    Contender(TEXTBOOK, "bench.contenders.textbook", "textbook loop (getone, queue 3, 3 workers)"),
    Contender(
        "aiokafka_batch", "bench.contenders.aiokafka_batch", "aiokafka getmany + send + gather"
    ),
    Contender("quix", "bench.contenders.quix", "Quix Streams", ("quixstreams",)),
    Contender("faust", "bench.contenders.faust_agent", "Faust (faust-streaming)", ("faust",)),
    Contender("arroyo", "bench.contenders.arroyo_app", "Sentry arroyo", ("arroyo",)),
    Contender(
        FASTSTREAM,
        "bench.contenders.faststream_app",
        "FastStream (ack after each record)",
        ("faststream",),
        stops_itself=False,
        env=(("BENCH_FASTSTREAM_ACK", "ack"),),
    ),
    Contender(
        "faststream_default",
        "bench.contenders.faststream_app",
        "FastStream default (ack first: at most once)",
        ("faststream",),
        stops_itself=False,
        env=(("BENCH_FASTSTREAM_ACK", "ack_first"),),
    ),
    Contender("kcat", "bench.contenders.kcat", "kcat | kcat (no validation)", (), ("kcat",), False),
)
SMOKE = (PROCESSOR, TEXTBOOK, "aiokafka_batch")


def by_name(names: list[str]) -> list[Contender]:
    known = {c.name: c for c in CONTENDERS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown contenders {unknown}; known: {sorted(known)}")
    return [known[n] for n in names]
