"""The garbage collector's thresholds are raised for the data path, never lowered."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from processor.engine.gc_thresholds import GEN0_THRESHOLD, tune_garbage_collector


@pytest.fixture(autouse=True)
def restore_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_default_thresholds_are_raised() -> None:
    gc.set_threshold(700, 10, 10)
    tune_garbage_collector()
    assert gc.get_threshold()[0] == GEN0_THRESHOLD
    assert all(now >= before for now, before in zip(gc.get_threshold(), (700, 10, 10), strict=True))


def test_higher_thresholds_set_by_the_embedding_program_are_kept() -> None:
    gc.set_threshold(GEN0_THRESHOLD * 2, 100, 100)
    tune_garbage_collector()
    assert gc.get_threshold() == (GEN0_THRESHOLD * 2, 100, 100)


def test_a_collector_switched_off_by_threshold_stays_off() -> None:
    gc.set_threshold(0)
    tune_garbage_collector()
    assert gc.get_threshold()[0] == 0
