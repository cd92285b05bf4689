"""The rl stage with the deepeyes recipe: a scripted engine makes good and bad zoom calls, the
crops come from the original image, and the recorded rewards are DeepEyes' formula."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw

from thyme_jobs import store as stores
from thyme_jobs.agent.loop import Generation, Sampling, Trajectory
from thyme_jobs.deepeyes import boxes
from thyme_jobs.rl import main as rl_main
from thyme_jobs.rl.config import parse_config
from thyme_jobs.modelio import checkpoints as sft_checkpoints

SQUARE = (500, 300, 560, 360)  # where the red square is in the 800 x 600 original
TINY_BUDGET = dict(min_pixels=56 * 56, max_pixels=224 * 224)  # the tiny model's processor (tinymodel.py)


def _scene() -> bytes:
    img = Image.linear_gradient("L").resize((800, 600)).convert("RGB")
    ImageDraw.Draw(img).rectangle(SQUARE, fill=(220, 20, 20))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def make_run_root(root: Path, model_dir: Path) -> Path:
    """Converted DeepEyes rows (docs/contracts.md): one V* row, one ThinkLite row, and sft/final."""
    run = stores.open_store(str(root))
    run.put_bytes("data/deepeyes_vstar/images/f/00000000_00.jpg", _scene())
    small = io.BytesIO()
    Image.new("RGB", (64, 40), (250, 250, 250)).save(small, "PNG")
    run.put_bytes("data/deepeyes_thinklite/images/f/00000000_00.jpg", small.getvalue())
    rows = {
        "deepeyes_vstar": {"id": "deepeyes_vstar/f/0", "split": "deepeyes_vstar",
                           "images": ["data/deepeyes_vstar/images/f/00000000_00.jpg"],
                           "question": "<image>\nWhat is the colour of the square?", "answer": "red",
                           "data_source": "vstar"},
        "deepeyes_thinklite": {"id": "deepeyes_thinklite/f/0", "split": "deepeyes_thinklite",
                               "images": ["data/deepeyes_thinklite/images/f/00000000_00.jpg"],
                               "question": "<image>\nWhat is 3 + 4?", "answer": "7",
                               "data_source": "thinklite_eureka"},
    }
    for split, row in rows.items():
        run.put_bytes(f"data/{split}/shards/0/rows.jsonl", (json.dumps(row) + "\n").encode())
        stores.put_json(run, f"data/{split}/manifest.json",
                        {"jsonl": [f"data/{split}/shards/0/rows.jsonl"], "rows": 1, "rejected": 0})
    stores.put_json(run, "data/manifest.json", {"splits": {s: {"rows": 1} for s in rows}})
    sft_checkpoints.upload_dir(run, model_dir, "sft/final")
    sft_checkpoints.commit(run, "sft/final", {"stage": "sft"})
    return root


def _call(bbox: list[float] | str, label: str = "square") -> str:
    arguments = bbox if isinstance(bbox, str) else json.dumps({"bbox_2d": bbox, "label": label})
    return ('<think>The square is small; I will zoom in.</think>\n<tool_call>\n'
            f'{{"name": "image_zoom_in_tool", "arguments": {arguments}}}\n</tool_call>')


class ScriptedModel:
    """Turns by generation index: g0 zooms well and answers right; g1 makes two bad calls
    (malformed arguments, then a box outside the image) and answers wrong; ThinkLite rows
    answer with a \\boxed{} (g0) or without (g1)."""

    def __init__(self) -> None:
        frame = boxes.Frame.for_image(800, 600, **TINY_BUDGET)
        sx, sy = frame.shown_width / 800, frame.shown_height / 600
        self.shown_box = [SQUARE[0] * sx, SQUARE[1] * sy, (SQUARE[2] + 1) * sx, (SQUARE[3] + 1) * sy]
        self.seen: list[Sampling] = []

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        self.seen.append(sampling)
        return [self._turn(t) for t in requests]

    def _turn(self, t: Trajectory) -> Generation:
        good, turn = t.id.endswith("-g0"), sum(s.trainable for s in t.segments)
        if "thinklite" in t.prompt_id:
            text = "<think>3 plus 4</think> \\boxed{7}" if good else "<think>hmm</think> it is seven"
            return Generation(text, "eos")
        script = [_call(self.shown_box), "<think>It is red.</think>\n<answer>red</answer>"] if good else [
            _call('{"bbox_2d": [10, 10, 20]}'), _call([5000, 5000, 5100, 5100]),
            "<think>Probably blue.</think>\n<answer>it is blue</answer>"]
        text = script[turn]
        stop = "</tool_call>" if text.endswith("</tool_call>") else "</answer>"
        return Generation(text, "stop", stop)


def config(root: Path, judge_endpoint: str | None, **overrides):
    data = dict(run_root=str(root), splits=["deepeyes_vstar", "deepeyes_thinklite"], recipe="deepeyes",
                num_generations=2, max_rounds=5, max_new_tokens=8, learning_rate=1e-3, steps=1, batch_size=2,
                save_steps=1, deepspeed=None, judge={"endpoint": judge_endpoint, "model": "judge", "timeout_seconds": 2,
                                     "max_retries": 1, "backoff_seconds": 0.01})
    return parse_config(data | overrides)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model_dir, judge_server):
    """One stage run shared by the tests below (a stage run is the expensive part)."""
    judge_server.reset()
    root = make_run_root(tmp_path_factory.mktemp("deepeyes") / "run", tiny_model_dir)
    engine = ScriptedModel()
    assert rl_main.run_stage(config(root, judge_server.endpoint), engine=engine) == 0
    run = stores.open_store(str(root))
    records = [json.loads(x) for x in run.get_bytes("rl/rollouts/00000001.jsonl").decode().splitlines()]
    requests = list(judge_server.behaviour.requests)
    judge_server.reset()
    return run, records, engine, requests


def test_recorded_rewards_match_the_deepeyes_formula(finished_run) -> None:
    run, records, _, requests = finished_run
    by = {(r["row_id"].split("/")[0], r["id"][-2:]): r for r in records}
    assert len(by) == 4

    good = by["deepeyes_vstar", "g0"]["rewards"]
    assert (good["accuracy"], good["format"], good["tool"], good["step_penalty"]) == (1.0, 0.0, 1.0, 0.0)
    assert good["total"] == pytest.approx(2.0)

    bad = by["deepeyes_vstar", "g1"]
    assert bad["sandbox_errors"] == 2 and bad["rewards"]["step_penalty"] == pytest.approx(-0.1)
    assert bad["rewards"]["accuracy"] == 0.0 and bad["rewards"]["accuracy_source"] == "judge"
    assert bad["rewards"]["tool"] == 0.0  # it called the tool, but the bonus needs a right answer
    assert bad["rewards"]["total"] == pytest.approx(-0.1)
    assert "bbox_2d must be a list of 4 numbers" in bad["completion"]
    assert "inverted or empty" in bad["completion"] and "<image>" not in bad["completion"]

    assert by["deepeyes_thinklite", "g0"]["rewards"]["total"] == pytest.approx(1.2)
    assert by["deepeyes_thinklite", "g1"]["rewards"]["total"] == pytest.approx(-0.4)
    for r in records:
        s = r["rewards"]
        weights = (1.2, 0.4, 0.0) if r["row_id"].startswith("deepeyes_thinklite") else (0.8, 0.2, 1.2)
        formula = weights[0] * s["accuracy"] + weights[1] * s["format"] + weights[2] * s["tool"] + s["step_penalty"]
        assert s["total"] == pytest.approx(formula)
    # Only the wrong paraphrase needed the judge; exact answers and maths were decided by rule.
    assert [m["messages"][-1]["content"].count("it is blue") for m in requests] == [1]


def test_the_zoom_crops_the_original_at_the_region_the_model_pointed_at(finished_run) -> None:
    run, records, engine, _ = finished_run
    good = next(r for r in records if r["id"].endswith("-g0") and "vstar" in r["row_id"])
    assert good["tool_calls"] == 1 and len(good["sandbox_images"]) == 1
    with Image.open(io.BytesIO(run.get_bytes(good["sandbox_images"][0]))) as crop:
        crop = crop.convert("RGB")
        # The whole square, at the original's resolution (the shown frame holds it in about 19 x 17 px;
        # the box grew to verl's 28 px minimum there, so the crop has a margin around it).
        reddish = crop.getchannel("R").point(lambda v: 255 if v > 180 else 0)
        not_green = crop.getchannel("G").point(lambda v: 255 if v < 80 else 0)
        red = ImageChops.multiply(reddish, not_green).histogram()[255]
        assert red >= 0.9 * 61 * 61 and crop.width >= 61 and crop.height >= 61
    assert "<tool_response>\n<image>Zoomed in on the image to the region" in good["completion"]
    assert all(s.stop == ("</tool_call>", "</answer>") for s in engine.seen)


def test_the_run_commits_without_any_sandbox(finished_run) -> None:
    run, _, _, _ = finished_run
    manifest = stores.get_json(run, "rl/manifest.json")
    assert manifest["config"]["recipe"] == "deepeyes" and manifest["config"]["sandbox_url"] is None
    assert manifest["steps"] == 1 and run.exists("rl/final/model.safetensors")
