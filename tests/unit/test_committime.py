"""The commit time in the committed offset's metadata: written by every commit, read by status."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from processor.engine.committime import PREFIX, committed_at, stamp

# Commits happen between the epoch and the year 9999.
MOMENTS_S = st.floats(min_value=0, max_value=253_402_300_799, allow_nan=False)


@given(MOMENTS_S)
def test_a_stamp_reads_back_as_its_time_to_the_millisecond(now_s: float) -> None:
    moment = committed_at(stamp(now_s))
    assert moment is not None
    assert moment.tzinfo is UTC
    assert abs(moment.timestamp() - now_s) < 0.002


def test_a_stamp_is_short() -> None:
    assert len(stamp(datetime(2026, 11, 29, tzinfo=UTC).timestamp())) <= 32


@given(st.text(max_size=40))
def test_metadata_that_is_not_a_stamp_has_no_time(text: str) -> None:
    if text.startswith(PREFIX):
        return
    assert committed_at(text) is None


@given(st.text(max_size=40))
def test_any_text_after_the_prefix_gives_a_time_or_none_and_never_raises(tail: str) -> None:
    moment = committed_at(PREFIX + tail)
    assert moment is None or moment.tzinfo is UTC


def test_no_metadata_and_foreign_metadata_have_no_time() -> None:
    assert committed_at(None) is None
    assert committed_at("") is None
    assert committed_at(PREFIX + "²") is None
    assert committed_at(PREFIX + "9" * 40) is None
