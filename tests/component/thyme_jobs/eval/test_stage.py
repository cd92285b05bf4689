"""The eval stage with the tiny model, the real sandbox and a local store: shards, merge, resume.

The random model never writes Thyme's tags, so its own greedy text is followed by a
forced crop program (first segment) and a forced answer (second): every item then makes
real generations and one real sandbox call whose image lands in the transcript.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Sequence

import pytest
from PIL import Image

from thyme_jobs import failures
from thyme_jobs import store as stores
from thyme_jobs.agent.loop import Generation, Sampling, Trajectory, cut_at_stop
from thyme_jobs.eval import main, synthetic
from thyme_jobs.eval.config import EvalConfig

CROP = ("<code>\n```python\nimage = Image.open(image_path)\nw, h = image.size\n"
        "out = image.crop((0, 0, w // 2, h // 2))\n"
        "processed_path = '/mnt/data/temp_processed_images/zoom.png'\nout.save(processed_path)\n"
        "print(processed_path)\n```\n</code>")


class Forcing:
    """The real engine writes each segment's text; a crop, then answer A, are appended."""

    def __init__(self, inner, fail_after: int | None = None) -> None:  # noqa: ANN001 - an Engine
        self.inner, self.fail_after = inner, fail_after
        self.asked: list[str] = []

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        if self.fail_after is not None and len(self.asked) >= self.fail_after:
            raise KeyboardInterrupt("the pod died")  # not an Exception: the loop must not swallow it
        self.asked += [t.id for t in requests]
        out = []
        for t, g in zip(requests, self.inner.generate(requests, sampling, seed)):
            text, _ = cut_at_stop(g.text, ())
            if "<sandbox_output>" in t.completion:
                out.append(Generation(f"<think>{text}</think><answer>A</answer>", "stop", "</answer>"))
            else:
                out.append(Generation(f"<think>{text}</think>{CROP}", "stop", "</code>"))
        return out


@pytest.fixture
def run_root(tmp_path, tiny_model_dir):
    root = tmp_path / "run"
    shutil.copytree(tiny_model_dir, root / "sft/final")
    (root / "sft/final/manifest.json").write_text("{}")
    answers = synthetic.write(root / "bench", ["VStarBench"], 6, seed=2, side=160)
    return root, answers["VStarBench"]


def config(root, sandbox_url, **overrides) -> EvalConfig:
    fields = {"max_new_tokens": 6, "num_shards": 2, "save_every": 2, **overrides}
    return EvalConfig(run_root=str(root), benchmarks=[{"name": "VStarBench", "tsv": "bench/VStarBench.tsv"}],
                      sandbox_url=sandbox_url, **fields)


def test_two_shards_score_every_item_and_the_last_one_merges(run_root, sandbox_url, monkeypatch):
    root, answers = run_root
    engines = []

    def factory(model_dir):  # noqa: ANN001, ANN202
        engines.append(Forcing(main.build_engine(config(root, sandbox_url), model_dir)))
        return engines[-1]

    cfg = config(root, sandbox_url)
    said = root / "termination-log"
    monkeypatch.setenv(failures.TERMINATION_LOG_ENV, str(said))
    assert main.run_stage(cfg, engine_factory=factory, environ={"JOB_COMPLETION_INDEX": "0"}) == 0
    assert not said.exists()  # only the shard that merges has the headline to say
    run = stores.open_store(str(root))
    assert not run.exists("eval/manifest.json")  # shard 1 is not done yet
    assert main.run_stage(cfg, engine_factory=factory, environ={"JOB_COMPLETION_INDEX": "1"}) == 0
    manifest = stores.get_json(run, "eval/manifest.json")
    assert manifest["checkpoints"] == ["sft"] and manifest["num_shards"] == 2  # base_model unset, no rl/final
    assert said.read_text().strip() == manifest["headline"] and manifest["headline"].startswith("VStarBench: sft ")

    results = stores.get_json(run, "eval/sft/VStarBench/results.json")
    assert results["items"] == len(answers["answers"]) and results["tool_calls"] == results["items"]
    assert [m["row"] for m in results["malformed_rows"]] == [b["row"] for b in answers["broken"]]
    expected = sum(a == "A" for a in answers["answers"].values()) / len(answers["answers"])
    assert results["overall"] == pytest.approx(expected)  # every item answered A, scored against the truth

    records = [json.loads(line) for key in results["parts"] for line in run.get_bytes(key).decode().splitlines()]
    assert sorted(r["index"] for r in records) == sorted(answers["answers"])
    for r in records:
        assert r["correct"] == (r["answer"] == "A") and r["method"] == "rule"
        images = [c for c in r["transcript"][-1]["content"] if c["type"] == "image"]
        assert len(images) == 1
        with Image.open(io.BytesIO(run.get_bytes(images[0]["key"]))) as img:
            assert img.size == (80, 80)  # the sandbox really cropped the 160 px input
    assert "| VStarBench | Overall |" in run.get_bytes("eval/summary.md").decode()
    assert main.run_stage(cfg, engine_factory=factory) == 0 and len(engines) == 2  # done: nothing loaded again


def test_a_crashed_shard_resumes_without_recomputing_committed_items(run_root, sandbox_url):
    root, answers = run_root
    cfg = config(root, sandbox_url, num_shards=1)
    first: list[Forcing] = []

    def crashing(model_dir):  # noqa: ANN001, ANN202
        first.append(Forcing(main.build_engine(cfg, model_dir), fail_after=4))  # 2 items x 2 segments, then death
        return first[-1]

    with pytest.raises(KeyboardInterrupt):
        main.run_stage(cfg, engine_factory=crashing)
    run = stores.open_store(str(root))
    committed = {json.loads(line)["index"] for k in run.list("eval/sft/VStarBench/shards")
                 if k.endswith(".jsonl") for line in run.get_bytes(k).decode().splitlines()}
    assert len(committed) == 2 and not run.exists("eval/manifest.json")

    second: list[Forcing] = []

    def healthy(model_dir):  # noqa: ANN001, ANN202
        second.append(Forcing(main.build_engine(cfg, model_dir)))
        return second[-1]

    assert main.run_stage(cfg, engine_factory=healthy) == 0
    asked = {tid.split("-")[-1].split("#")[0] for tid in second[0].asked}
    assert asked.isdisjoint(committed) and asked | committed == set(answers["answers"])
    assert stores.get_json(run, "eval/sft/VStarBench/results.json")["items"] == len(answers["answers"])
