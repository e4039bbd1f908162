"""decode: bytes in, a validated model or a Cause saying which stage rejected it and why."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, StrictInt, StrictStr, ValidationError

from processor.engine.deadletter import Cause
from processor.engine.decode import MAX_DETAIL_BYTES, classify, decode, validation_detail
from processor.pipelines.transactions import Transaction


class Reading(BaseModel):
    sensor: StrictStr
    value: StrictInt


class Labels(BaseModel):
    labels: dict[str, int]


def failure_of(model: type[BaseModel], value: bytes | None) -> Cause:
    result = decode(model, value)
    assert isinstance(result, Cause), result
    return result


def detail_of(failure: Cause) -> list[dict[str, Any]]:
    detail = json.loads(failure.detail)
    assert isinstance(detail, list)
    return detail


def test_a_valid_value_decodes_to_the_model() -> None:
    result = decode(Reading, b'{"sensor": "s1", "value": 7}')
    assert result == Reading(sensor="s1", value=7)


def test_a_null_value_fails_at_decode_as_null_value() -> None:
    failure = failure_of(Reading, None)
    assert (failure.stage, failure.error_class) == ("decode", "NullValue")
    assert failure.attempts == 1


@pytest.mark.parametrize("value", [b"\xff\xfe\x00", b'{"sensor": "\xc3\x28", "value": 1}', b"\x80"])
def test_invalid_utf8_fails_at_decode_as_unicode_decode_error(value: bytes) -> None:
    failure = failure_of(Reading, value)
    assert (failure.stage, failure.error_class) == ("decode", "UnicodeDecodeError")
    assert "UTF-8" in failure.message


@pytest.mark.parametrize(
    "value", [b"", b"not json", b'{"sensor": ', b'{"a": 1} trailing', b"{'a': 1}"]
)
def test_text_that_is_not_json_fails_at_decode_as_json_decode_error(value: bytes) -> None:
    failure = failure_of(Reading, value)
    assert (failure.stage, failure.error_class) == ("decode", "JSONDecodeError")
    assert failure.message


@pytest.mark.parametrize("value", [b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_fails_at_validate(value: bytes) -> None:
    failure = failure_of(Reading, value)
    assert (failure.stage, failure.error_class) == ("validate", "ValidationError")
    assert detail_of(failure)[0]["type"] == "model_type"


def test_missing_fields_fail_at_validate_listing_each_field() -> None:
    failure = failure_of(Reading, b"{}")
    assert (failure.stage, failure.error_class) == ("validate", "ValidationError")
    detail = detail_of(failure)
    assert [(error["type"], error["loc"]) for error in detail] == [
        ("missing", ["sensor"]),
        ("missing", ["value"]),
    ]
    assert failure.message.startswith("2 validation error(s); sensor:")


def test_wrong_types_fail_at_validate_naming_the_field() -> None:
    failure = failure_of(Reading, b'{"sensor": 1, "value": "7"}')
    assert failure.stage == "validate"
    assert [error["loc"] for error in detail_of(failure)] == [["sensor"], ["value"]]


def test_the_validate_message_names_the_first_error_location() -> None:
    failure = failure_of(Labels, b'{"labels": {"a": "x"}}')
    assert "labels.a:" in failure.message


def test_the_detail_leaves_out_the_input_values() -> None:
    failure = failure_of(Reading, b'{"sensor": "s1", "value": "secret-looking-input"}')
    assert "secret-looking-input" not in failure.detail


def many_errors(count: int, key_width: int) -> bytes:
    labels = {f"{index:0{key_width}d}": "not a number" for index in range(count)}
    return json.dumps({"labels": labels}).encode()


def test_detail_with_many_errors_keeps_a_prefix_of_whole_errors() -> None:
    failure = failure_of(Labels, many_errors(5_000, 5))
    assert failure.message.startswith("5000 validation error(s)")
    detail = detail_of(failure)
    assert 0 < len(detail) < 5_000
    assert [error["loc"] for error in detail] == [
        ["labels", f"{index:05d}"] for index in range(len(detail))
    ]


@pytest.mark.parametrize(("count", "key_width"), [(5_000, 4), (20_000, 6)])
def test_detail_stays_under_the_byte_cap_with_many_errors(count: int, key_width: int) -> None:
    failure = failure_of(Labels, many_errors(count, key_width))
    assert len(failure.detail.encode()) <= MAX_DETAIL_BYTES


def test_detail_stays_under_the_byte_cap_for_every_error_size() -> None:
    failure = failure_of(Labels, many_errors(1_000, 3))
    assert len(failure.detail.encode()) <= MAX_DETAIL_BYTES


def test_validation_detail_never_exceeds_max_bytes() -> None:
    errors: list[object] = [{"n": 0}] * 100  # 11 errors are counted as 101 bytes, written as 110
    assert len(validation_detail(errors, max_bytes=101).encode()) <= 101


def test_validation_detail_is_an_empty_list_when_no_error_fits() -> None:
    assert validation_detail([{"msg": "x" * 100}], max_bytes=50) == "[]"


def test_validation_detail_counts_bytes_not_characters() -> None:
    errors: list[object] = [{"msg": "\u00e9" * 10}] * 3
    detail = validation_detail(errors, max_bytes=60)
    assert len(detail.encode()) <= 60
    assert json.loads(detail) == errors[: len(json.loads(detail))]


def test_classify_tells_not_json_from_invalid_model() -> None:
    with pytest.raises(ValidationError) as bad_json:
        Reading.model_validate_json(b"{")
    with pytest.raises(ValidationError) as bad_model:
        Reading.model_validate_json(b"{}")
    assert classify(bad_json.value, b"{").stage == "decode"
    assert classify(bad_model.value, b"{}").stage == "validate"


def check_outcome(model: type[BaseModel], value: bytes) -> None:
    result = decode(model, value)
    if isinstance(result, Cause):
        assert result.stage in ("decode", "validate")
        if result.stage == "validate":
            assert isinstance(json.loads(result.detail), list)
    else:
        assert isinstance(result, model)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(value: bytes) -> None:
    check_outcome(Transaction, value)
    check_outcome(Reading, value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
reading_like = st.fixed_dictionaries(
    {}, optional={"sensor": json_values, "value": json_values, "extra": json_values}
)


@settings(max_examples=200)
@given(st.one_of(json_values, reading_like))
def test_arbitrary_json_never_raises_and_fails_only_at_validate(document: object) -> None:
    value = json.dumps(document).encode()
    result = decode(Reading, value)
    if isinstance(result, Cause):
        assert (result.stage, result.error_class) == ("validate", "ValidationError")
        assert isinstance(json.loads(result.detail), list)
    else:
        assert isinstance(result, Reading)
