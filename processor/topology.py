"""The topics a configuration names: one place that says which, in which order."""

from __future__ import annotations

from processor.config import Settings
from processor.pipeline import PipelineLike


def written_topics(settings: Settings, pipeline: PipelineLike) -> list[str]:
    """The outputs the pipeline declares, then the dead-letter topic."""
    return [*pipeline.output_topics(settings.input_topic), settings.dead_letter_topic]


def topic_names(settings: Settings, pipeline: PipelineLike) -> list[str]:
    """Input, outputs and dead-letter topic, in that order."""
    return [settings.input_topic, *written_topics(settings, pipeline)]
