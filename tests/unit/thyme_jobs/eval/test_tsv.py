"""Reading VLMEvalKit TSVs: items as written, broken rows reported by position and skipped, sharding."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from thyme_jobs.eval import synthetic, tsv


def jpeg() -> str:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), "white").save(out, "JPEG")
    return base64.b64encode(out.getvalue()).decode()


def test_synthetic_benchmarks_read_back_with_every_broken_row_reported(tmp_path):
    summary = synthetic.write(tmp_path, ["VStarBench", "HRBench4K", "MME-RealWorld-Lite"], 6, seed=3, side=96)
    for name, required in (("VStarBench", ("category",)), ("HRBench4K", ("category", "cycle_category")),
                           ("MME-RealWorld-Lite", ("category", "l2-category"))):
        items, bad = tsv.read_items(tmp_path / f"{name}.tsv", required)
        truth = summary[name]["answers"]
        assert {i.index: i.answer for i in items} == truth  # the image-sharing row is an item too
        expected = summary[name]["broken"]
        assert [b.row for b in bad] == [e["row"] for e in expected]
        for got, want in zip(bad, expected):
            assert want["reason"] in got.reason
            assert got.index == want["index"] or want["reason"].startswith("cells")
    items, _ = tsv.read_items(tmp_path / "HRBench4K.tsv", ("cycle_category",))
    assert {i.cycle_category for i in items} == {"cycle_0", "cycle_1", "cycle_2"}
    mme, _ = tsv.read_items(tmp_path / "MME-RealWorld-Lite.tsv")
    assert all(len(i.options) == 5 and "/" in i.category and i.l2_category for i in mme)


def test_a_short_image_cell_shares_another_rows_image_even_a_later_one(tmp_path):
    header = ["index", "image", "question", "A", "B", "answer"]
    rows = [["1", "2", "q1", "x", "y", "A"], ["2", jpeg(), "q2", "x", "y", "B"]]
    tsv.write_rows(tmp_path / "b.tsv", header, rows)
    items, bad = tsv.read_items(tmp_path / "b.tsv")
    assert bad == [] and [i.index for i in items] == ["1", "2"] and items[0].image == items[1].image


def test_quoted_cells_with_tabs_and_newlines_survive(tmp_path):
    header = ["index", "image", "question", "A", "B", "C", "answer", "hint"]
    tsv.write_rows(tmp_path / "b.tsv", header, [["7", jpeg(), 'a "quoted"\tquestion\nwith lines', "x", "y", "", "B", "nan"]])
    [item], bad = tsv.read_items(tmp_path / "b.tsv")
    assert bad == [] and item.question == 'a "quoted"\tquestion\nwith lines'
    assert item.options == {"A": "x", "B": "y"}  # an empty cell is no option
    assert item.hint == ""  # pandas writes a missing hint as nan


def test_a_file_without_a_required_column_is_refused_by_name(tmp_path):
    tsv.write_rows(tmp_path / "b.tsv", ["index", "image", "question", "A", "answer"], [["1", jpeg(), "q", "x", "A"]])
    with pytest.raises(ValueError, match="no column category, cycle_category"):
        tsv.read_items(tmp_path / "b.tsv", ("category", "cycle_category"))


def test_rows_with_empty_required_cells_are_malformed(tmp_path):
    header = ["index", "image", "question", "A", "answer", "category"]
    tsv.write_rows(tmp_path / "b.tsv", header, [["1", jpeg(), "q", "x", "A", ""], ["", jpeg(), "q", "x", "A", "c"],
                                                ["3", jpeg(), "q", "", "A", "c"]])
    items, bad = tsv.read_items(tmp_path / "b.tsv", ("category",))
    assert items == []
    assert [(b.row, b.reason) for b in bad] == [(0, "empty category"), (1, "empty index"),
                                                 (2, "no options (columns A, B, ... are empty)")]


def test_shards_split_rows_by_position_and_together_cover_the_file(tmp_path):
    summary = synthetic.write(tmp_path, ["VStarBench"], 10, seed=1, side=64)
    whole, whole_bad = tsv.read_items(tmp_path / "VStarBench.tsv", ("category",))
    parts = [tsv.read_items(tmp_path / "VStarBench.tsv", ("category",), shard=k, num_shards=3) for k in range(3)]
    assert sorted(i.index for p in parts for i in p[0]) == sorted(i.index for i in whole)
    assert sorted(b.row for p in parts for b in p[1]) == [b.row for b in whole_bad]
    for k, (items, _) in enumerate(parts):
        assert all(i.row % 3 == k for i in items)
    assert json.loads((tmp_path / "answers.json").read_text())["VStarBench"]["answers"] == summary["VStarBench"]["answers"]
