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


class CodeThenAnswer:
    """Writes one code block, then answers: every trajectory calls the sandbox once."""

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        if "</code>" in sampling.stop:
            return [Generation("print(1)</code>", "stop", "</code>") for _ in requests]
        out = []
        for t in requests:
            if t.tool_calls or t.sandbox_errors:
                out.append(Generation("<think>it is</think><answer>red car</answer>", "stop", "</answer>"))
            else:
                out.append(Generation("<think>look</think><code>", "stop", "<code>"))
        return out


class FaultySandbox:
    """A CodeRunner whose service fails (SandboxFault) for the trajectories `faulty` picks."""

    def __init__(self, faulty) -> None:  # noqa: ANN001 - a predicate on the trajectory id
        self.faulty, self.calls = faulty, []

    async def run(self, trajectory_id: str, code: str, image: bytes | None):
        from thyme_jobs.agent.thyme_code import CodeResult, SandboxFault

        self.calls.append(trajectory_id)
        if self.faulty(trajectory_id):
            raise SandboxFault(f"trajectory {trajectory_id}: sandbox service fault SandboxUnavailable: refused")
        return CodeResult(status="ok", stdout="1\n")

    async def close(self, trajectory_id: str) -> None:
        return None


def test_sandbox_faults_get_no_weight_and_a_faulty_step_is_not_trained_on(tmp_path, tiny_model_dir, photo,
                                                                          caplog) -> None:
    from thyme_jobs.rl.faults import SandboxFaultsExceeded

    root = make_run_root(tmp_path / "run", tiny_model_dir, photo)
    run = stores.open_store(str(root))
    # One trajectory of four faults: 25%, under a 50% limit. It trains on the rest, at weight 0 for it.
    cfg = config(root, "http://127.0.0.1:9", None, num_generations=4, sandbox_max_fault_rate=0.5)
    first = [None]

    def one_of_four(trajectory_id: str) -> bool:
        first[0] = first[0] or trajectory_id
        return trajectory_id == first[0]

    assert rl_main.run_stage(cfg, runner=FaultySandbox(one_of_four), engine=CodeThenAnswer()) == 0
    lines = [json.loads(x) for x in run.get_bytes("rl/rollouts/00000001.jsonl").decode().splitlines()]
    faulted = [x for x in lines if x["finish_reason"] == "sandbox_fault"]
    assert len(faulted) == 1 and faulted[0]["advantage"] == 0.0, lines
    manifest = stores.get_json(run, "rl/manifest.json")
    assert manifest["sandbox_fault_trajectories"] == 1 and manifest["sandbox_fault_steps"] == 0
    assert manifest["trajectories_scored"] == 3  # the faulted one is not in the stage's reward

    # Every trajectory faults: no update, the step is marked and retried, then the stage fails.
    root2 = make_run_root(tmp_path / "run2", tiny_model_dir, photo)
    run2 = stores.open_store(str(root2))
    cfg = config(root2, "http://127.0.0.1:9", None, num_generations=2, steps=3, sandbox_max_fault_steps=2)
    with caplog.at_level(logging.ERROR), pytest.raises(SandboxFaultsExceeded, match="2 steps in a row"):
        rl_main.run_stage(cfg, runner=FaultySandbox(lambda _id: True), engine=CodeThenAnswer())
    assert sum("cut short by sandbox faults" in r.getMessage() for r in caplog.records) == 2
    status = stores.get_json(run2, "rl/status.json")
    assert status["state"] == "sandbox_faults" and "SandboxUnavailable" in status["message"]
    assert not run2.exists("rl/checkpoints/00000001/manifest.json")


def test_the_trainer_waits_for_a_judge_that_is_still_starting(tmp_path, tiny_model_dir, photo, judge) -> None:
    import threading

    root = make_run_root(tmp_path / "run", tiny_model_dir, photo)
    judge.behaviour.healthy = False
    threading.Timer(2.0, lambda: setattr(judge.behaviour, "healthy", True)).start()
    cfg = config(root, "http://127.0.0.1:9", judge.endpoint, server_wait_seconds=60)
    assert rl_main.run_stage(cfg, runner=FaultySandbox(lambda _id: False), engine=UndecidedAnswers()) == 0
    assert judge.behaviour.health_checks >= 2
    # no judge request was spent on a judge still starting: every one got a verdict
    assert judge.behaviour.requests and judge.behaviour.refused == 0
    assert stores.get_json(stores.open_store(str(root)), "rl/manifest.json")["judge_outage_steps"] == 0


def test_a_judge_that_never_comes_up_fails_the_stage_naming_it(tmp_path, tiny_model_dir, photo, judge) -> None:
    from thyme_jobs.rl.readiness import ServerNotReady

    root = make_run_root(tmp_path / "run", tiny_model_dir, photo)
    judge.behaviour.healthy = False
    cfg = config(root, "http://127.0.0.1:9", judge.endpoint, server_wait_seconds=2)
    with pytest.raises(ServerNotReady, match=r"judge at http://127\.0\.0\.1:\d+/health .*HTTP 503"):
        rl_main.run_stage(cfg, runner=FaultySandbox(lambda _id: False), engine=UndecidedAnswers())
    assert judge.behaviour.requests == []


class CountingSandbox(FaultySandbox):
    """Counts the trajectories that hold a session at once (first call to close)."""

    def __init__(self) -> None:
        super().__init__(lambda _id: False)
        self.open: set[str] = set()
        self.most = 0

    async def run(self, trajectory_id: str, code: str, image: bytes | None):
        self.open.add(trajectory_id)
        self.most = max(self.most, len(self.open))
        return await super().run(trajectory_id, code, image)

    async def close(self, trajectory_id: str) -> None:
        self.open.discard(trajectory_id)


def test_the_rollout_holds_no_more_sandbox_sessions_than_the_service_has(tmp_path, tiny_model_dir, photo) -> None:
    root = make_run_root(tmp_path / "run", tiny_model_dir, photo)
    sandbox = CountingSandbox()
    cfg = config(root, "http://127.0.0.1:9", None, num_generations=4, sandbox_max_sessions=2)
    assert rl_main.run_stage(cfg, runner=sandbox, engine=CodeThenAnswer()) == 0
    assert len(set(sandbox.calls)) == 4 and sandbox.most == 2  # every trajectory ran its code, two at a time
    lines = [json.loads(x) for x in stores.open_store(str(root)).get_bytes("rl/rollouts/00000001.jsonl")
             .decode().splitlines()]
    assert [x["finish_reason"] for x in lines] == ["answer"] * 4
