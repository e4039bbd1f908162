"""Decode and validate: raw bytes in, a validated model or the :class:`Cause` of a dead letter."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import BaseModel, ValidationError

from processor.engine.deadletter import Cause

MAX_DETAIL_BYTES = 8192


def decode(model: type[BaseModel], value: bytes | None) -> BaseModel | Cause:
    """Validate ``value`` as JSON against ``model`` in one pass (pydantic parses and checks)."""
    if value is None:
        return Cause("decode", "NullValue", "record value is null")
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        return classify(exc, value)
    except Exception as exc:  # a user's validator raised something pydantic does not wrap
        return Cause("validate", type(exc).__name__, describe_error(exc))


def describe_error(exc: BaseException) -> str:
    """The exception's text, or its repr when it has none (``KeyError()``, ``TimeoutError()``)."""
    try:
        text = str(exc)
    except Exception:  # a user's exception whose __str__ itself fails
        text = ""
    return text or f"{type(exc).__name__} with no message"


def classify(exc: ValidationError, value: bytes) -> Cause:
    """Tell bytes that are not JSON (stage decode) from JSON that breaks the model (validate)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if errors and errors[0]["type"] == "json_invalid":
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Cause("decode", "UnicodeDecodeError", f"value is not UTF-8: {bad.reason}")
        return Cause("decode", "JSONDecodeError", errors[0]["msg"])
    first = errors[0] if errors else {"loc": (), "msg": str(exc)}
    where = ".".join(str(part) for part in first["loc"]) or "<record>"
    message = f"{len(errors)} validation error(s); {where}: {first['msg']}"
    return Cause("validate", "ValidationError", message, validation_detail(errors))


def validation_detail(errors: Sequence[object], max_bytes: int = MAX_DETAIL_BYTES) -> str:
    """Pydantic's error list as JSON, keeping as many whole errors as fit in ``max_bytes``."""
    kept: list[object] = []
    size = 2  # the brackets
    for error in errors:
        encoded = json.dumps(error, default=str, ensure_ascii=False, separators=(",", ":"))
        size += len(encoded.encode()) + (1 if kept else 0)  # the comma before it
        if size > max_bytes:
            break
        kept.append(error)
    return json.dumps(kept, default=str, ensure_ascii=False, separators=(",", ":"))
