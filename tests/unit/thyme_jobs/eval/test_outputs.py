"""The merge: nothing until every shard is done, then results, summary and the manifest last."""

from __future__ import annotations

import json

from thyme_jobs import store as stores
from thyme_jobs.eval import outputs, reports


def record(index: str, row: int, correct: bool, category: str = "direct_attributes", **extra) -> dict:
    return {"index": index, "row": row, "correct": correct, "category": category, "method": "rule",
            "tool_calls": 1, "rollbacks": 0, **extra}


PLAN = {"checkpoints": ["sft", "rl"], "benchmarks": ["VStarBench"], "num_shards": 2}


def write_shard(run, ckpt: str, shard: int, records: list[dict], malformed=()):
    outputs.write_part(run, outputs.part_key(ckpt, "VStarBench", shard, records[0]["row"]), records)
    stores.put_json(run, outputs.done_key(ckpt, "VStarBench", shard),
                    {"shard": shard, "items": len(records), "malformed": list(malformed)})


def test_no_merge_until_every_shard_of_every_checkpoint_is_done(tmp_path):
    run = stores.open_store(str(tmp_path))
    write_shard(run, "sft", 0, [record("0", 0, True), record("2", 2, False, "relative_position")])
    write_shard(run, "sft", 1, [record("1", 1, True)], [{"row": 3, "index": "3", "reason": "image does not decode"}])
    write_shard(run, "rl", 0, [record("0", 0, True)])
    assert outputs.try_merge(run, PLAN) is None and not run.exists(outputs.MANIFEST)
    write_shard(run, "rl", 1, [record("1", 1, True, "relative_position")])
    manifest = outputs.try_merge(run, PLAN)
    assert manifest is not None and run.exists(outputs.MANIFEST)
    sft = stores.get_json(run, "eval/sft/VStarBench/results.json")
    assert sft["overall"] == 2 / 3 and sft["items"] == 3
    assert sft["malformed_rows"] == [{"row": 3, "index": "3", "reason": "image does not decode"}]
    assert manifest["accuracy"] == {"sft": {"VStarBench": 2 / 3}, "rl": {"VStarBench": 1.0}}
    assert manifest["headline"] == "VStarBench: sft 66.7, rl 100.0"
    table = run.get_bytes("eval/summary.md").decode()
    assert "| VStarBench | Overall | 66.7 | 100.0 | 82.2 | 76.4 |" in table
    assert run.get_bytes("eval/summary.png")[:8] == b"\x89PNG\r\n\x1a\n"
    doc = stores.get_json(run, "eval/summary.json")
    assert doc["rows"][0]["published"] == {"Thyme-VL-7B": 83.5, "Qwen2.5-VL-7B": 78.2}


def test_a_resumed_shard_knows_its_finished_items(tmp_path):
    run = stores.open_store(str(tmp_path))
    outputs.write_part(run, outputs.part_key("sft", "VStarBench", 0, 0), [record("0", 0, True), record("4", 4, True)])
    outputs.write_part(run, outputs.part_key("sft", "VStarBench", 0, 8), [record("8", 8, False)])
    assert outputs.done_indices(run, "sft", "VStarBench", 0) == {"0", "4", "8"}
    assert outputs.done_indices(run, "sft", "VStarBench", 1) == set()


def test_checkpoint_labels_are_store_safe():
    assert [outputs.checkpoint_label(n) for n in ("base", "sft/final", "rl/final", "rl/checkpoints/00000010",
                                                  "s3://bucket/models/qwen")] == [
        "base", "sft", "rl", "rl-checkpoints-00000010", "bucket-models-qwen"]


def test_markdown_marks_missing_numbers():
    doc = reports.summary({"base": {"HRBench4K": {"overall": None, "breakdown": {}, "items": 0}}})
    text = reports.markdown(doc)
    assert "| HRBench4K | FSP | n/a | 91.0 | 85.2 |" in text
    assert json.loads(json.dumps(doc)) == doc
