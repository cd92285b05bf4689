"""Shard assignment: deterministic, disjoint and complete, by file and row group."""

from __future__ import annotations

import pytest

from thyme_jobs.convert import sharding

FILES = [
    sharding.DumpFile("data/b-00001-of-00002.parquet", "b", (3,)),
    sharding.DumpFile("data/a-00000-of-00001.parquet", "a", (4, 4, 2)),
    sharding.DumpFile("data/b-00000-of-00002.parquet", "b", (5, 1)),
]


def test_units_follow_file_then_row_group_order_with_row_offsets() -> None:
    units = sharding.work_units(FILES)
    assert [(u.stem, u.row_group, u.first_row_in_file, u.first_row_in_split) for u in units["b"]] == [
        ("b-00000-of-00002", 0, 0, 0), ("b-00000-of-00002", 1, 5, 5), ("b-00001-of-00002", 0, 0, 6)]
    assert [u.first_row_in_split for u in units["a"]] == [0, 4, 8]


@pytest.mark.parametrize("num_shards", [1, 2, 3, 5])
def test_shards_cover_every_unit_exactly_once(num_shards: int) -> None:
    for split, units in sharding.work_units(FILES).items():
        taken = [u for i in range(num_shards) for u in sharding.shard_units(units, i, num_shards)]
        assert sorted(taken, key=lambda u: (u.key, u.row_group)) == units


def test_assignment_does_not_depend_on_listing_order() -> None:
    assert sharding.work_units(FILES) == sharding.work_units(list(reversed(FILES)))


def test_shard_index_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="outside 0..1"):
        sharding.shard_units([], 2, 2)


@pytest.mark.parametrize(("key", "split"), [
    ("data/2round-00003-of-00010.parquet", "2round"),
    ("data/wo_thinking_thyme_single_round-00000-of-00146.parquet", "wo_thinking_thyme_single_round"),
    ("data/README.md", None), ("data/x.parquet", None)])
def test_split_comes_from_the_file_name(key: str, split: str | None) -> None:
    assert sharding.split_of(key) == split
