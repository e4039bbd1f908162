"""Which needed permission the metadata refuses: pure rules over error codes and bit fields."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processor.config import Settings
from processor.security.permissions import (
    NOT_PROVIDED,
    OPERATION_CODES,
    TOPIC_AUTHORIZATION_FAILED,
    UNKNOWN_TOPIC,
    Need,
    TopicAccess,
    first_refused,
    processor_needs,
)


def allowing(*operations: str) -> TopicAccess:
    return TopicAccess(0, sum(1 << OPERATION_CODES[operation] for operation in operations))


def test_the_processor_reads_its_input_and_writes_outputs_and_dead_letters_once_each() -> None:
    settings = Settings(input_topic="in", dlq_topic="out")

    assert processor_needs(settings, ["out", "other"]) == [
        Need("READ", "in"), Need("WRITE", "out"), Need("WRITE", "other"),
    ]  # fmt: skip


def test_a_topic_that_may_not_be_described_refuses_whatever_is_needed() -> None:
    access = {"in": TopicAccess(TOPIC_AUTHORIZATION_FAILED, NOT_PROVIDED)}

    assert first_refused([Need("READ", "in")], access) == Need("READ", "in")


def test_a_missing_topic_or_a_silent_broker_refuses_nothing() -> None:
    access = {"gone": TopicAccess(UNKNOWN_TOPIC, NOT_PROVIDED), "old": TopicAccess(0, NOT_PROVIDED)}

    assert first_refused([Need("READ", "gone"), Need("WRITE", "old")], access) is None


@given(st.sets(st.sampled_from(sorted(OPERATION_CODES))), st.sampled_from(sorted(OPERATION_CODES)))
def test_an_operation_is_refused_exactly_when_its_bit_is_unset(
    granted: set[str], needed: str
) -> None:
    refused = first_refused([Need(needed, "t")], {"t": allowing(*granted)})

    assert (refused is None) == (needed in granted)


def test_the_first_refused_need_is_named_in_order() -> None:
    access = {"a": allowing("READ"), "b": allowing("READ"), "c": allowing("DESCRIBE")}
    needs = [Need("READ", "a"), Need("WRITE", "b"), Need("WRITE", "c")]

    assert first_refused(needs, access) == Need("WRITE", "b")
