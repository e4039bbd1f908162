"""Where the files land: a local folder, or any filesystem pyarrow or fsspec can open.

A local file is written under a temporary name, flushed and fsynced, renamed, and its folder
fsynced: a crash at any moment leaves either no file or the whole file under its name, never a
partial one. Object stores (``s3://``, ``gs://``, ...) have no rename; an object becomes visible
only when its upload completes, so there the file is written under its final name directly.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from processor.archive import layout
from processor.archive.testhook import pause_here


class StoreError(ValueError):
    """``--to`` names no filesystem that pyarrow or fsspec can open; one readable line."""


class Withdrawn(Exception):
    """A file was not published: its partition went to another owner while it was written."""


def _always() -> bool:
    return True


class FileStore(Protocol):
    """A folder of archive files; every path is relative to its root."""

    @property
    def root(self) -> str: ...

    def write(
        self, path: str, table: Any, compression: str, publish: Callable[[], bool] = _always
    ) -> int:
        """Write ``table`` as Parquet at ``path``, whole or not at all; the bytes written.

        ``publish`` is asked last, just before the file becomes visible: false, nothing is left
        and :class:`Withdrawn` is raised.
        """
        ...

    def list(self, folder: str) -> list[str]:
        """Every file under ``folder``, recursively (none when it does not exist)."""
        ...

    def delete(self, path: str) -> None: ...


def open_store(target: str) -> FileStore:
    """The store ``--to`` names: a path, a ``file://`` URL, or another filesystem's URL."""
    if "://" not in target:
        return LocalStore(Path(target))
    if target.startswith("file://"):
        return LocalStore(Path(target.removeprefix("file://")))
    try:
        filesystem, base = pafs.FileSystem.from_uri(target)
    except Exception as pyarrow_error:
        filesystem, base = _fsspec(target, pyarrow_error)
    return RemoteStore(filesystem, base.rstrip("/"), target)


def _fsspec(target: str, pyarrow_error: Exception) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise StoreError(f"cannot open {target!r}: {pyarrow_error}") from None
    try:
        filesystem, base = fsspec.core.url_to_fs(target)
    except Exception as exc:
        raise StoreError(f"cannot open {target!r}: {exc}") from None
    return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem)), str(base)


def compression_option(compression: str) -> str | None:
    return None if compression == "none" else compression


@dataclass(frozen=True, slots=True)
class LocalStore:
    base: Path

    @property
    def root(self) -> str:
        return str(self.base)

    def write(
        self, path: str, table: Any, compression: str, publish: Callable[[], bool] = _always
    ) -> int:
        final = self.base / path
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.base / layout.temporary_of(path, uuid.uuid4().hex)
        try:
            with open(temporary, "xb") as out:
                pq.write_table(table, out, compression=compression_option(compression))
                pause_here("write")
                out.flush()
                os.fsync(out.fileno())
                size = out.tell()
            pause_here("rename")
            if not publish():
                raise Withdrawn(path)
            os.replace(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        _fsync_folder(final.parent)
        return size

    def list(self, folder: str) -> list[str]:
        top = self.base / folder
        if not top.is_dir():
            return []
        return [
            str((Path(parent) / name).relative_to(self.base))
            for parent, _, names in os.walk(top)
            for name in names
        ]

    def delete(self, path: str) -> None:
        (self.base / path).unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable: it lives in the folder's entry list."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True, slots=True)
class RemoteStore:
    filesystem: Any  # pyarrow.fs.FileSystem
    base: str
    url: str

    @property
    def root(self) -> str:
        return self.url

    def write(
        self, path: str, table: Any, compression: str, publish: Callable[[], bool] = _always
    ) -> int:
        final = f"{self.base}/{path}"
        if not publish():  # an upload cannot be taken back once it starts: ask first
            raise Withdrawn(path)
        self.filesystem.create_dir(final.rpartition("/")[0], recursive=True)
        with self.filesystem.open_output_stream(final) as out:
            pq.write_table(table, out, compression=compression_option(compression))
            pause_here("write")
            size = int(out.tell())
        return size

    def list(self, folder: str) -> list[str]:
        selector = pafs.FileSelector(f"{self.base}/{folder}", recursive=True, allow_not_found=True)
        infos = self.filesystem.get_file_info(selector)
        prefix = f"{self.base}/"
        return [info.path.removeprefix(prefix) for info in infos if info.type == pafs.FileType.File]

    def delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.filesystem.delete_file(f"{self.base}/{path}")
