"""Which pod converts which part of the dump. Pure: file metadata in, work units out.

The unit of work is one row group of one parquet file: the smallest piece parquet lets
a reader fetch on its own. The units of a split are numbered in (file name, row group)
order and unit k belongs to shard k mod n. That depends only on the split's own files
and n, so every pod of an Indexed Job computes the same table without talking to the
others, no two pods ever convert the same row, and a rerun with the same n redoes
exactly the same rows (which is what lets done markers be trusted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The release names its files `data/<split>-NNNNN-of-MMMMM.parquet`.
_DUMP_FILE = re.compile(r"^(?P<split>.+)-(?P<index>\d+)-of-(?P<total>\d+)\.parquet$")


@dataclass(frozen=True)
class DumpFile:
    """A parquet file of the dump, with the row counts of its row groups (from its footer)."""

    key: str
    split: str
    row_groups: tuple[int, ...]
    layout: str = "thyme-sft"  # which source (and row shape) the file belongs to

    @property
    def stem(self) -> str:
        return self.key.rsplit("/", 1)[-1].removesuffix(".parquet")


@dataclass(frozen=True)
class WorkUnit:
    """One row group: where it is, and where its rows sit within the file and the split."""

    key: str
    stem: str
    split: str
    row_group: int
    rows: int
    first_row_in_file: int
    first_row_in_split: int
    layout: str = "thyme-sft"


def split_of(key: str) -> str | None:
    """The split a dump file belongs to, from its name; None for files that are not parquet shards."""
    match = _DUMP_FILE.match(key.rsplit("/", 1)[-1])
    return match.group("split") if match else None


def work_units(files: list[DumpFile]) -> dict[str, list[WorkUnit]]:
    """All units per split, in the canonical order that shard assignment counts in."""
    units: dict[str, list[WorkUnit]] = {}
    offsets: dict[str, int] = {}
    for f in sorted(files, key=lambda f: (f.split, f.key)):
        in_file = 0
        for group, rows in enumerate(f.row_groups):
            in_split = offsets.get(f.split, 0)
            units.setdefault(f.split, []).append(
                WorkUnit(f.key, f.stem, f.split, group, rows, in_file, in_split, f.layout))
            in_file += rows
            offsets[f.split] = in_split + rows
    return units


def shard_units(units: list[WorkUnit], shard: int, num_shards: int) -> list[WorkUnit]:
    """The units shard `shard` of `num_shards` converts: every n-th, starting at its index."""
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} is outside 0..{num_shards - 1}")
    return units[shard::num_shards]
