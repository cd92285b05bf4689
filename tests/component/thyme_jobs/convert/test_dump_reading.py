"""Reading the dump: listing, ranged streaming through the store, row offsets."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest

from thyme_jobs import store as stores
from thyme_jobs.convert import sharding, sources

from .conftest import Dump


def test_ranged_reads_give_the_same_rows_as_the_file(small_dump: Dump) -> None:
    store = stores.LocalStore(small_dump.path)
    key = "data/2round-00000-of-00002.parquet"
    ranged = pq.ParquetFile(io.BufferedReader(sources._RangeReader(store, key), buffer_size=4096),
                            buffer_size=4096, pre_buffer=False)
    assert ranged.read().to_pylist() == pq.read_table(small_dump.path / key).to_pylist()


def test_local_store_ranges_and_sizes(tmp_path) -> None:
    store = stores.LocalStore(tmp_path)
    store.put_bytes("a/b.bin", bytes(range(100)))
    assert store.size("a/b.bin") == 100
    assert store.get_range("a/b.bin", 10, 5) == bytes(range(10, 15))
    assert store.get_range("a/b.bin", 98, 10) == bytes([98, 99])
    with pytest.raises(stores.ObjectNotFound):
        store.get_range("nope", 0, 1)


def test_rows_stream_with_split_offsets(small_dump: Dump) -> None:
    store = stores.LocalStore(small_dump.path)
    units = sharding.work_units(sources.list_dump(store, ["2round"]))["2round"]
    indices = [row_in_file + u.first_row_in_split - u.first_row_in_file
               for u in units for row_in_file, _ in sources.iter_rows(store, u, batch_rows=2)]
    assert indices == list(range(small_dump.counts["2round"]))


def test_directory_without_a_dump_is_explained(tmp_path) -> None:
    with pytest.raises(sources.DumpError, match="folder holding data/"):
        sources.list_dump(stores.LocalStore(tmp_path), None)
