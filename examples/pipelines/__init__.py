"""Example pipelines, one per executor, each small enough to copy and adapt.

- :mod:`examples.pipelines.enrich_http`: ``async`` route on the event loop, enriching each order
  over HTTP through connections opened in ``start()`` and closed in ``close()``.
- :mod:`examples.pipelines.sqlite_lookup`: a blocking route in a thread pool, looking each order
  line up in SQLite, one connection per thread.
- :mod:`examples.pipelines.cpu_heavy`: a CPU-heavy route in a process pool, scoring comments.

Run one from the repository root (so that ``examples`` is importable), e.g.
``PYTHONPATH=. PROCESSOR_PIPELINE=examples.pipelines.enrich_http:pipeline processor run``.
"""
