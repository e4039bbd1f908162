"""One sealed file onto the store: its columns built, the invalid records first, then the file.

Runs in a thread (building columns and compressing are CPU work that would starve the event
loop's heartbeats). The main file is written last: it is what :mod:`recovery` takes as proof that
the whole range is archived, so an ``_invalid`` file whose main file never landed is an orphan.
The main file is written even when no record fit the model (then with no rows): that way the
proof is always there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from processor.archive.columns import Shape, tables
from processor.archive.files import FileStore
from processor.archive.layout import FileName


@dataclass(frozen=True, slots=True)
class SealedFile:
    """Records of one partition, in offset order, ready to be written as one file."""

    name: FileName
    records: list[Any]
    bytes: int  # what holding them costs (rolling.record_bytes)
    reason: str  # why it was sealed (rolling.RollReason)


@dataclass(frozen=True, slots=True)
class Written:
    name: FileName
    rows: int
    invalid_rows: int
    file_bytes: int  # on the store, both files together


def write_file(
    store: FileStore,
    shape: Shape,
    sealed: SealedFile,
    compression: str,
    publish: Callable[[], bool],
) -> Written:
    """Write ``sealed`` to ``store``; raises ``OSError`` (and leaves nothing visible) on failure.

    ``publish`` is asked just before each file becomes visible (see ``FileStore.write``).
    """
    built = tables(shape, sealed.records)
    file_bytes = 0
    invalid_rows = 0
    if built.invalid is not None:
        invalid_rows = built.invalid.num_rows
        invalid_path = sealed.name.path(invalid=True)
        file_bytes += store.write(invalid_path, built.invalid, compression, publish)
    file_bytes += store.write(sealed.name.path(), built.valid, compression, publish)
    return Written(sealed.name, built.valid.num_rows, invalid_rows, file_bytes)
