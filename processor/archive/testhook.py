"""A pause at a named step of writing a file, for tests that SIGKILL the archiver right there.

``PROCESSOR_ARCHIVE_TEST_PAUSE=<step>:<n>:<flag file>`` makes the ``n``-th file (counting from 1)
stop at ``<step>`` (``write``: the temporary file holds its data, not yet fsynced; ``rename``:
fsynced, not yet renamed; ``commit``: renamed, its offsets not yet committed). The archiver
creates the flag file and sleeps until it is killed. Unset, this costs one dictionary lookup.
"""

from __future__ import annotations

import os
import time
from collections import Counter

VARIABLE = "PROCESSOR_ARCHIVE_TEST_PAUSE"
STEPS = ("write", "rename", "commit")
_reached: Counter[str] = Counter()


def pause_here(step: str) -> None:
    asked = os.environ.get(VARIABLE)
    if not asked:
        return
    wanted, nth, flag = asked.split(":", 2)
    if wanted != step:
        return
    _reached[step] += 1
    if _reached[step] == int(nth):
        with open(flag, "w") as out:
            out.write(f"{os.getpid()}\n")
        while True:  # until the test's SIGKILL
            time.sleep(1)
