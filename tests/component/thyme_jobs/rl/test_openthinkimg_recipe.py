"""The rl stage with recipe openthinkimg (V-ToolRL): the tiny policy's rollouts call real tool
workers found through a real front, are scored by accuracy and format, and a GRPO step trains and
commits. The engine is scripted (a random tiny model writes no JSON); the tools, the loop, the
scoring and the update are the real ones."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from thyme_jobs import store as stores
from thyme_jobs.agent.loop import Generation, Sampling, Trajectory
from thyme_jobs.rl import main as rl_main
from thyme_jobs.rl.config import parse_config
from thyme_tools import front, worker
from thyme_tools.serving import InProcessServer
from thyme_tools.settings import FrontSettings, WorkerSettings

from .test_stage import make_run_root

CROP = '{"thought": "look closer", "actions": [{"name": "Crop", "arguments": {"param": "[0, 0, 64, 48]"}}]}'


def done(answer: str) -> str:
    return json.dumps({"thought": "I can read it", "actions": [{"name": "Terminate", "arguments": {"ans": answer}}]})


class ToolUser:
    """Generation g of a group crops once then answers: g0 rightly ("red car"), g1 wrongly."""

    def __init__(self) -> None:
        self.stops: list[tuple[str, ...]] = []

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        self.stops.append(sampling.stop)
        out = []
        for t in requests:
            if "OBSERVATION:" not in t.completion:
                out.append(Generation(CROP, "eos"))
            else:
                out.append(Generation(done("red car" if t.id.endswith("g0") else "a blue bus"), "eos"))
        return out


@pytest.fixture
def tools_front():
    crop = InProcessServer(worker.create_app(WorkerSettings(tool="Crop"))).start().wait_ready()
    server = InProcessServer(front.create_app(FrontSettings(workers={"Crop": crop.url}))).start()
    yield server.url
    server.stop()
    crop.stop()


def test_v_toolrl_step_calls_the_tools_scores_and_commits(tmp_path, tiny_model_dir, photo, tools_front) -> None:
    root = make_run_root(tmp_path / "run", tiny_model_dir, photo)
    cfg = parse_config(dict(run_root=str(root), splits=["train"], recipe="openthinkimg", tools_url=tools_front,
                            num_generations=2, max_rounds=3, max_new_tokens=8, learning_rate=1e-3, steps=1,
                            batch_size=1, save_steps=1, rewards={"format": 0.5, "accuracy": 1.0}, deepspeed=None))
    engine = ToolUser()
    assert rl_main.run_stage(cfg, engine=engine) == 0

    run = stores.open_store(str(root))
    assert stores.get_json(run, "rl/manifest.json")["steps"] == 1
    rollouts = [json.loads(line) for line in run.get_bytes("rl/rollouts/00000001.jsonl").decode().splitlines()]
    assert len(rollouts) == 2
    text = json.dumps(rollouts)
    assert "OBSERVATION:" in text and "Crop model outputs: Image cropped successfully." in text
    # g0 answered right: accuracy 1 + format 0.5 * (2 valid rounds of 2); g1 wrong: format only
    by_id = {r["id"].rsplit("-", 1)[-1]: r for r in rollouts}
    assert by_id["g0"]["rewards"]["accuracy"] == 1.0 and by_id["g1"]["rewards"]["accuracy"] == 0.0
    assert by_id["g0"]["rewards"]["total"] == pytest.approx(1.5) and by_id["g1"]["rewards"]["total"] == pytest.approx(0.5)
    assert all(r["finish_reason"] == "answer" and r["tool_calls"] == 2 for r in rollouts)
    assert by_id["g0"]["advantage"] > 0 > by_id["g1"]["advantage"]
    assert all("<|openthinkimg-no-answer-tag|>" in stops for stops in engine.stops)
