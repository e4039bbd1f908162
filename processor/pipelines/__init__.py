"""Pipelines that ship with the processor."""
