"""The pipeline API: what a user writes to plug their own records and routes into the processor.

A pipeline names a pydantic model for the input and a ``route`` function that turns one validated
record into exactly one outcome: an :class:`Output`, a :class:`Reject` (a dead letter with a reason)
or a :class:`Drop` (counted, then forgotten).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeAlias, runtime_checkable

from pydantic import BaseModel

# Kafka allows a header without a value: other producers write them, so values may be None.
Headers: TypeAlias = tuple[tuple[str, bytes | None], ...]


# Source and Output are made once per record: named tuples are immutable and about three
# times quicker to build than frozen dataclasses.
class Source(NamedTuple):
    """Where the record being routed came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Headers
    timestamp_ms: int


class Output(NamedTuple):
    """Write ``value`` to ``topic``. ``event_id`` becomes the ``event-id`` header."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: Headers = ()
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """Send the original record to the dead-letter topic at stage ``route``."""

    reason: str
    error_class: str = "Rejected"


@dataclass(frozen=True, slots=True)
class Drop:
    """Skip the record on purpose; it is counted and its offset committed."""

    reason: str


Outcome: TypeAlias = Output | Reject | Drop


@runtime_checkable
class Pipeline(Protocol):
    """What ``PROCESSOR_PIPELINE=package.module:attribute`` must point at."""

    @property
    def model(self) -> type[BaseModel]:
        """The pydantic model every input value is validated against (as JSON)."""
        ...

    def output_topics(self, input_topic: str) -> Sequence[str]:
        """The topics ``route`` may write to, so they can be created and checked up front."""
        ...

    def route(self, record: Any, source: Source) -> Outcome | Awaitable[Outcome]:
        """Decide the one outcome of a validated record; may be a coroutine function."""
        ...


class PipelineLoadError(ValueError):
    """``PROCESSOR_PIPELINE`` does not name a usable pipeline."""


def load_pipeline(spec: str) -> Pipeline:
    """Import ``package.module:attribute``; a class or factory is called with no arguments."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise PipelineLoadError(f"expected 'package.module:attribute', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PipelineLoadError(f"cannot import module {module_name!r}: {exc}") from exc
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise PipelineLoadError(f"module {module_name!r} has no attribute {attribute!r}") from None
    # A class (even one whose attributes satisfy the protocol) or a factory is called once.
    is_factory = isinstance(found, type) or (callable(found) and not isinstance(found, Pipeline))
    candidate = found() if is_factory else found
    if not isinstance(candidate, Pipeline):
        raise PipelineLoadError(f"{spec!r} is not a pipeline (needs model, output_topics, route)")
    if not (isinstance(candidate.model, type) and issubclass(candidate.model, BaseModel)):
        raise PipelineLoadError(f"{spec!r}: model must be a pydantic BaseModel subclass")
    return candidate
