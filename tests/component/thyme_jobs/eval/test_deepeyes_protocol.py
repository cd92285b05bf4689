"""The eval stage runs V* under DeepEyes' protocol: zoom-in calls in the shared loop, DeepEyes' rules."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence

import pytest

from thyme_jobs import store as stores
from thyme_jobs.agent.loop import Generation, Sampling, Trajectory
from thyme_jobs.eval import deepeyes_vstar, main, synthetic
from thyme_jobs.eval.config import EvalConfig

ZOOM = ("<think>The object is small.</think>\n<tool_call>\n"
        + json.dumps({"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [0, 0, 80, 80], "label": "x"}})
        + "\n</tool_call>")


class ScriptedDeepEyes:
    """A DeepEyes policy stand-in: zoom once, then answer A (a letter DeepEyes' rules decide)."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        self.prompts += [t.question for t in requests]
        return [Generation(ZOOM, "stop", "</tool_call>") if t.tool_calls == 0
                else Generation("<think>Seen.</think><answer>A</answer>", "stop", "</answer>") for t in requests]


@pytest.fixture
def run_root(tmp_path, tiny_model_dir):
    root = tmp_path / "run"
    shutil.copytree(tiny_model_dir, root / "sft/final")
    (root / "sft/final/manifest.json").write_text("{}")
    answers = synthetic.write(root / "bench", ["VStarBench"], 6, seed=3, side=160)
    return root, answers["VStarBench"]


def test_a_deepeyes_benchmark_zooms_in_the_shared_loop_and_is_scored_by_deepeyes_rules(run_root):
    root, answers = run_root
    engine = ScriptedDeepEyes()
    cfg = EvalConfig(run_root=str(root), sandbox_url="http://127.0.0.1:9", save_every=2, max_iterations=4,
                     benchmarks=[{"name": "VStarBench", "tsv": "bench/VStarBench.tsv", "protocol": "deepeyes"}])
    assert main.run_stage(cfg, engine_factory=lambda _dir: engine) == 0

    run = stores.open_store(str(root))
    results = stores.get_json(run, "eval/sft/VStarBench/results.json")
    records = [json.loads(line) for key in results["parts"] for line in run.get_bytes(key).decode().splitlines()]
    assert sorted(r["index"] for r in records) == sorted(answers["answers"])
    for r in records:
        assert r["protocol"] == "deepeyes" and r["method"] == "rule" and r["tool_calls"] == 1
        assert r["correct"] == (r["answer"] == "A") and r["finish_reason"] == "answer"
        assert any(c["type"] == "image" for c in r["transcript"][-1]["content"])  # the crop came back
    assert all("Think first, call **image_zoom_in_tool** if needed" in p for p in engine.prompts)
    expected = sum(a == "A" for a in answers["answers"].values()) / len(answers["answers"])
    assert results["overall"] == pytest.approx(expected)
    assert deepeyes_vstar.report(records)["overall"] == pytest.approx(100 * expected)


def test_the_deepeyes_protocol_is_refused_for_benchmarks_without_its_rules():
    with pytest.raises(ValueError, match="protocol 'deepeyes'"):
        EvalConfig(run_root="run", sandbox_url="http://127.0.0.1:9",
                   benchmarks=[{"name": "HRBench4K", "tsv": "b.tsv", "protocol": "deepeyes"}])
