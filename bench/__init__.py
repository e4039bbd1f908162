"""Benchmarks: the processor against hand-written loops, Python peers and kcat.

Run with ``scripts/bench``; see bench/README.md.
"""
