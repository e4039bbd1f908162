"""Tests of the example pipelines in examples/pipelines/: in-process, then through a real broker."""
