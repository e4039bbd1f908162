"""The file layer: whole files under their names, nothing else visible, on a failure nothing."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from processor.archive.files import LocalStore, RemoteStore, StoreError, Withdrawn, open_store

TABLE = pa.table({"offset": pa.array(range(1000), pa.int64()), "value": [b"v" * 50] * 1000})
PATH = "topic=t/date=2026-11-22/part-0-00000000000000000000-00000000000000000999.parquet"


@pytest.mark.parametrize("compression", ["zstd", "snappy", "none"])
def test_a_local_file_lands_whole_under_its_name_and_nothing_else_is_left(
    tmp_path: Path, compression: str
) -> None:
    store = LocalStore(tmp_path)
    size = store.write(PATH, TABLE, compression)
    assert (tmp_path / PATH).stat().st_size == size
    assert pq.read_table(tmp_path / PATH).equals(TABLE)
    codec = pq.ParquetFile(tmp_path / PATH).metadata.row_group(0).column(0).compression
    assert codec == {"zstd": "ZSTD", "snappy": "SNAPPY", "none": "UNCOMPRESSED"}[compression]
    assert store.list("topic=t") == [PATH]


def test_a_failed_write_leaves_no_file_at_all(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(Exception):  # noqa: B017, PT011  (whatever pyarrow raises for a non-table)
        store.write(PATH, object(), "zstd")
    assert store.list("topic=t") == []


def test_a_file_withdrawn_at_the_last_moment_is_not_published_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    asked: list[int] = []

    def publish() -> bool:  # asked once the data is written and synced, before the rename
        asked.append(len(list(tmp_path.rglob("*.parquet*"))))
        return False

    for store in (LocalStore(tmp_path), RemoteStore(pafs.LocalFileSystem(), str(tmp_path), "t://")):
        with pytest.raises(Withdrawn):
            store.write(PATH, TABLE, "zstd", publish)
        assert store.list("topic=t") == []
    assert asked == [1, 0]  # local: the temporary file existed; remote: asked before uploading


def test_rewriting_a_file_replaces_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.write(PATH, TABLE, "zstd")
    store.write(PATH, TABLE.slice(0, 10), "zstd")
    assert pq.read_table(tmp_path / PATH).num_rows == 10
    assert store.list("topic=t") == [PATH]


def test_listing_a_folder_that_does_not_exist_is_empty(tmp_path: Path) -> None:
    assert LocalStore(tmp_path).list("topic=none") == []


def test_a_filesystem_store_writes_lists_and_deletes(tmp_path: Path) -> None:
    store = RemoteStore(pafs.LocalFileSystem(), str(tmp_path), "test://")
    store.write(PATH, TABLE, "snappy")
    assert store.list("topic=t") == [PATH]
    assert pq.read_table(tmp_path / PATH).equals(TABLE)
    store.delete(PATH)
    store.delete(PATH)  # gone already: no error
    assert store.list("topic=t") == []


def test_paths_and_file_urls_are_local_and_unknown_schemes_are_one_line_errors(
    tmp_path: Path,
) -> None:
    assert open_store(str(tmp_path)) == LocalStore(tmp_path)
    assert open_store(f"file://{tmp_path}") == LocalStore(tmp_path)
    with pytest.raises(StoreError, match="cannot open 'nosuch://bucket/x'") as caught:
        open_store("nosuch://bucket/x")
    assert "\n" not in str(caught.value)
