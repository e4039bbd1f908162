"""An at-least-once Kafka stream processor: validate, route, dead-letter, with backpressure."""

from processor.pipeline import Drop, Output, Pipeline, Reject, Source

__all__ = ["Drop", "Output", "Pipeline", "Reject", "Source"]
__version__ = "0.1.0"
