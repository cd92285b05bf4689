"""The whole rl stage on a tiny run root: train, checkpoint, commit, resume, and a judge outage."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from thyme_jobs import store as stores
from thyme_jobs.rl import main as rl_main
from thyme_jobs.rl.config import parse_config
from thyme_jobs.rl.judge import JudgeUnavailable
from thyme_jobs.agent.loop import Generation, Sampling, Trajectory
from thyme_jobs.modelio import checkpoints as store_checkpoints

QUESTION = "<image>\nWhat is on the left? Answer in a few words."


def make_run_root(root: Path, model_dir: Path, photo: bytes, n_rows: int = 3) -> Path:
    """Converted rows per docs/contracts.md and the SFT output at sft/final."""
    run = stores.open_store(str(root))
    rows = []
    for i in range(n_rows):
        key = f"data/train/images/{i:04d}.jpg"
        run.put_bytes(key, photo)
        rows.append({"id": f"train/part0/{i}", "split": "train", "images": [key], "question": QUESTION,
                     "response": "<think>It is a car.</think>\n<answer>red car</answer>"})
    run.put_bytes("data/train/shards/0/rows.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    stores.put_json(run, "data/train/manifest.json",
                    {"jsonl": ["data/train/shards/0/rows.jsonl"], "rows": n_rows, "rejected": 0})
    stores.put_json(run, "data/manifest.json", {"splits": {"train": {"rows": n_rows}}})
    store_checkpoints.upload_dir(run, model_dir, "sft/final")
    store_checkpoints.commit(run, "sft/final", {"stage": "sft"})
    return root


def config(root: Path, sandbox_url: str, judge_endpoint: str | None, **overrides):
    data = dict(run_root=str(root), splits=["train"], num_generations=2, max_rounds=2, max_new_tokens=8, deepspeed=None,
                sandbox_url=sandbox_url, learning_rate=1e-3, steps=1, batch_size=1, save_steps=1,
                judge={"endpoint": judge_endpoint, "model": "judge", "timeout_seconds": 2, "max_retries": 1,
                       "backoff_seconds": 0.01, "max_outage_steps": 2})
    return parse_config(data | overrides)


def test_stage_trains_checkpoints_commits_and_resumes(tmp_path, tiny_model_dir, photo, sandbox_url, judge) -> None:
    root = make_run_root(tmp_path / "run", tiny_model_dir, photo)
    run = stores.open_store(str(root))
    assert rl_main.run_stage(config(root, sandbox_url, judge.endpoint, steps=1)) == 0
    first = run.get_bytes("rl/rollouts/00000001.jsonl")
    assert run.exists("rl/checkpoints/00000001/manifest.json") and run.exists("rl/manifest.json")

    # A longer run of the same stage: without the commit point it resumes after step 1.
    run.delete("rl/manifest.json")
    assert rl_main.run_stage(config(root, sandbox_url, judge.endpoint, steps=2)) == 0
    assert run.get_bytes("rl/rollouts/00000001.jsonl") == first  # step 1 was not redone
    manifest = stores.get_json(run, "rl/manifest.json")
    assert manifest["steps"] == 2 and manifest["trajectories_scored"] == 4
    assert manifest["mean_reward"] is not None and manifest["accuracy"] == "rules, then judge"
    assert run.exists("rl/checkpoints/00000002/manifest.json") and run.exists("rl/final/manifest.json")
    assert run.exists("rl/final/config.json") and run.exists("rl/final/model.safetensors")
    lines = [json.loads(x) for x in run.get_bytes("rl/rollouts/00000002.jsonl").decode().splitlines()]
    assert len(lines) == 2 and all(x["rewards"] is not None and x["finish_reason"] for x in lines)
    assert any(k.startswith("rl/tensorboard/events.out.tfevents") for k in run.list("rl/tensorboard"))
    assert stores.get_json(run, "rl/status.json")["state"] == "done"

    # With the commit point in place a rerun does nothing.
    before = sorted(run.list("rl"))
    assert rl_main.run_stage(config(root, sandbox_url, judge.endpoint, steps=2)) == 0
    assert sorted(run.list("rl")) == before


class UndecidedAnswers:
    """Answers the rules cannot grade, so every trajectory needs the judge."""

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        return [Generation("<think>left side</think><answer>a shiny red car</answer>", "stop", "</answer>")
                for _ in requests]


def test_a_judge_outage_is_loud_and_never_zero(tmp_path, tiny_model_dir, photo, sandbox_url, judge, caplog) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = make_run_root(tmp_path / "run", tiny_model_dir, photo)
    run = stores.open_store(str(root))
    judge.behaviour.mode = "fail"
    with caplog.at_level(logging.ERROR), pytest.raises(JudgeUnavailable, match="HTTP 503"):
        rl_main.run_stage(config(root, sandbox_url, judge.endpoint, steps=3), engine=UndecidedAnswers())
    assert sum("judge outage" in r.getMessage() for r in caplog.records) == 2
    status = stores.get_json(run, "rl/status.json")
    assert status["state"] == "judge_outage" and "503" in status["message"]
    assert not run.exists("rl/manifest.json") and not run.exists("rl/checkpoints/00000001/manifest.json")
    records = [json.loads(x) for x in run.get_bytes("rl/rollouts/00000001.jsonl").decode().splitlines()]
    assert all(r["rewards"] is None for r in records)  # unknown, not zero
    local = tmp_path / "tb"
    for key in run.list("rl/tensorboard"):
        run.get_file(key, local / Path(key).name)
    events = EventAccumulator(str(local))
    events.Reload()
    assert [e.value for e in events.Scalars("judge/outage")] == [1.0, 1.0]

    # The judge comes back: the stage runs on; its rewards come from the judge.
    judge.behaviour.mode = "ok"
    assert rl_main.run_stage(config(root, sandbox_url, judge.endpoint, steps=1), engine=UndecidedAnswers()) == 0
    lines = [json.loads(x) for x in run.get_bytes("rl/rollouts/00000001.jsonl").decode().splitlines()]
    assert all(x["rewards"]["accuracy_source"] == "judge" and x["rewards"]["accuracy"] == 1.0 for x in lines)
    shutil.rmtree(local)
