"""Reading the dump: find its parquet files and stream rows of one row group, in bounded memory.

Why a buffered stream and not `read_table`: one file of the release is ~1,200 rows of
full-size base64 images. With `buffer_size` set and pre-buffering off, pyarrow reads a
column chunk page by page and we hand rows on a few at a time, so memory does not grow
with the number of files or row groups. The floor is one parquet *page*: pyarrow's
writer (which made the release and our synthetic dump) dictionary-encodes strings and
only checks the dictionary's size every 1,024 values, so a row group with fewer images
than that stores its whole image column in one dictionary page, which must be read,
decompressed and decoded whole (about 2.7x its size at the peak, measured). A dump in
S3 is read with ranged GETs through the artifact store (which retries while the store
restarts), never downloaded whole.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from thyme_jobs import store as stores
from thyme_jobs.failures import InputError
from thyme_jobs.convert import layouts, sharding

READ_BUFFER = 1 << 20  # parquet page reads and S3 range requests are this big
COLUMNS = layouts.COLUMNS["thyme-sft"]


class DumpError(InputError):
    """The source is not a Thyme-SFT dump we can read; the message says what is missing."""


class _RangeReader(io.RawIOBase):
    """A seekable read-only file over one stored object, fetched range by range."""

    def __init__(self, store: stores.ArtifactStore, key: str) -> None:
        self.store, self.key = store, key
        self.length = store.size(key)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.length}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer) -> int:  # noqa: ANN001 - a writable buffer
        want = min(len(buffer), self.length - self.pos)
        if want <= 0:
            return 0
        data = self.store.get_range(self.key, self.pos, want)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def open_parquet(store: stores.ArtifactStore, key: str) -> pq.ParquetFile:
    if isinstance(store, stores.LocalStore):
        return pq.ParquetFile(store.location(key), buffer_size=READ_BUFFER, pre_buffer=False)
    reader = io.BufferedReader(_RangeReader(store, key), buffer_size=READ_BUFFER)
    return pq.ParquetFile(reader, buffer_size=READ_BUFFER, pre_buffer=False)


def list_dump(store: stores.ArtifactStore, splits: list[str] | None) -> list[sharding.DumpFile]:
    """The dump's parquet files (under `data/`, as the release has them), with row-group sizes."""
    keys = [k for k in store.list("data/") if sharding.split_of(k)]
    found = sorted({sharding.split_of(k) for k in keys})
    if not keys:
        raise DumpError(f"{store.location('data/')}: no <split>-NNNNN-of-MMMMM.parquet files; "
                        "SOURCE must be the dump's root (the folder holding data/)")
    missing = sorted(set(splits or []) - set(found))
    if missing:
        raise DumpError(f"splits {missing} are not in the dump at {store.location()}; it has {found}")
    wanted = set(splits) if splits else set(found)
    files = []
    for key in keys:
        split = sharding.split_of(key)
        if split in wanted:
            meta = open_parquet(store, key).metadata
            files.append(sharding.DumpFile(key, split, tuple(meta.row_group(g).num_rows for g in range(meta.num_row_groups))))
    return files


def list_rl(store: stores.ArtifactStore, layout: str, files: list[str]) -> list[sharding.DumpFile]:
    """An RL dataset's parquet files, named by their converted split.

    thyme-rl is laid out like the SFT dump (`data/<split>-NNNNN-of-MMMMM.parquet`);
    deepeyes has its three files at the dataset's root (or under `data/`), each its own split.
    """
    if layout == "thyme-rl":
        keys = [k for k in store.list("data/") if sharding.split_of(k)]
        if not keys:
            raise DumpError(f"{store.location('data/')}: no <split>-NNNNN-of-MMMMM.parquet files; the Thyme-RL "
                            "source must be the dataset's root (the folder holding data/)")
        return [_dump_file(store, k, layouts.thyme_rl_split(sharding.split_of(k) or ""), layout) for k in keys]
    out = []
    for name in files:
        file = layouts.DEEPEYES_FILES[name]
        key = next((k for k in (file, f"data/{file}") if store.exists(k)), None)
        if key is None:
            raise DumpError(f"{store.location(file)} is missing: the DeepEyes source must hold {file} "
                            f"(file {name!r}); drop it from the files list to convert the others")
        out.append(_dump_file(store, key, layouts.deepeyes_split(name), layout))
    return out


def _dump_file(store: stores.ArtifactStore, key: str, split: str, layout: str) -> sharding.DumpFile:
    meta = open_parquet(store, key).metadata
    return sharding.DumpFile(key, split, tuple(meta.row_group(g).num_rows for g in range(meta.num_row_groups)), layout)


def iter_rows(store: stores.ArtifactStore, unit: sharding.WorkUnit, batch_rows: int) -> Iterator[tuple[int, dict]]:
    """(row index in file, row) for every row of the unit's row group, a few rows at a time."""
    parquet = open_parquet(store, unit.key)
    columns = layouts.COLUMNS[unit.layout]
    missing = set(columns) - set(parquet.schema_arrow.names)
    if missing:
        raise DumpError(f"{store.location(unit.key)} lacks columns {sorted(missing)}; the {unit.layout} layout "
                        f"has {columns}")
    index = unit.first_row_in_file
    for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[unit.row_group], columns=columns,
                                      use_threads=False):
        for row in batch.to_pylist():
            yield index, row
            index += 1
    del parquet
    # A row group's pages can be hundreds of MB (see the module docstring); hand them back to the OS
    # before the next unit instead of letting the allocator keep them.
    pa.default_memory_pool().release_unused()
