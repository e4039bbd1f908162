"""An at-least-once Kafka stream processor: validate, route, dead-letter, with backpressure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from processor.pipeline import BatchPipeline, Drop, Output, Pipeline, Reject, Source

__all__ = ["BatchPipeline", "Drop", "Output", "Pipeline", "Reject", "Source"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the supervisor imports processor.* without the data path's pydantic.
    if name in __all__:
        from processor import pipeline

        return getattr(pipeline, name)
    if name == "__version__":  # written once, in pyproject.toml
        from processor.version import installed_version

        return installed_version()
    raise AttributeError(f"module 'processor' has no attribute {name!r}")
