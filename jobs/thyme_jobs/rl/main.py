"""The rl stage: GRPO-ATS on converted rows, from the SFT model, into rl/ of the run root.

How to run it:

    thyme rl --config rl.yaml                      # locally, any store URI as run_root
    THYME_STAGE_CONFIG='{"run_root": ...}' thyme rl  # in a pod (the operator sets this)

One step, in this order: pick the step's prompts; roll out `num_generations`
trajectories each (text at 1.0, code at 0.0, the sandbox in between); score them
(rules, then the judge); group-normalise the advantages; one GRPO update; write the
sampled trajectories and the metrics; checkpoint every `save_steps`. At the end the
policy goes to `rl/final/` and `rl/manifest.json` is written last: the commit point.
A rerun that finds it exits at once; one that does not resumes from the newest
complete checkpoint.

A judge outage marks the step (no update on unknown rewards, `judge/outage` = 1, an
error log line, `rl/status.json` with state `judge_outage`), and the step is rolled out
again; after `judge.max_outage_steps` outages in a row the stage fails with the judge's
error (exit code 3). An outage never turns into rewards of 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from thyme_jobs import store as stores
from thyme_jobs.rl import advantages, checkpoints, grpo, prompts, records, rollout, scoring
from thyme_jobs.rl.config import RLConfig
from thyme_jobs.rl.encoding import TrajectoryEncoder
from thyme_jobs.rl.engines import build_engine
from thyme_jobs.rl.judge import JudgeClient, JudgeError, JudgeStats
from thyme_jobs.rl.sandbox_runner import SandboxRunner
from thyme_jobs.sft import checkpoints as sft_checkpoints

log = logging.getLogger(__name__)

MANIFEST = "rl/manifest.json"
STATUS = "rl/status.json"
FINAL = "rl/final"


@dataclass
class LoopState:
    """The counters a checkpoint carries besides the weights and the optimizer."""

    step: int = 0
    reward_sum: float = 0.0
    reward_count: int = 0
    last_mean_reward: float | None = None
    outage_steps: int = 0
    consecutive_outages: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Stage:
    cfg: RLConfig
    run: stores.ArtifactStore
    rows: list[dict[str, Any]]
    policy: Any
    reference: Any
    processor: Any
    optimizer: torch.optim.Optimizer
    engine: Any
    encoder: TrajectoryEncoder
    scratch: Path
    state: LoopState
    writer: Any


def run_stage(cfg: RLConfig, runner: rollout.CodeRunner | None = None, engine: rollout.Engine | None = None) -> int:
    """The whole stage; `runner` and `engine` replace the sandbox service and the model's engine (tests)."""
    run = stores.open_store(cfg.run_root)
    if run.exists(MANIFEST):
        log.info("rl: %s exists, nothing to do", run.location(MANIFEST))
        return 0
    torch.manual_seed(cfg.seed)
    with tempfile.TemporaryDirectory(prefix="thyme-rl-") as tmp:
        stage = _prepare(cfg, run, Path(tmp))
        if engine is not None:
            stage.engine = engine
        try:
            asyncio.run(_train(stage, runner))
        finally:
            stage.writer.close()
            _upload_tensorboard(stage)
        _finish(stage)
    return 0


def _prepare(cfg: RLConfig, run: stores.ArtifactStore, scratch: Path) -> Stage:
    from torch.utils.tensorboard import SummaryWriter
    from transformers import AutoModelForImageTextToText

    from thyme_jobs.sft.processor import load_processor

    rows = prompts.read_rows(run, cfg.splits)
    base_dir = _fetch_model(run, cfg.model, scratch / "base")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    state = LoopState()
    resume = checkpoints.newest_complete(run)
    policy_dir, trainer_state = base_dir, None
    if resume is not None:
        policy_dir, trainer_state = checkpoints.download(run, resume, scratch / "resume")
        log.info("rl: resuming from step %d", resume["step"])
    processor = load_processor(policy_dir)
    policy = AutoModelForImageTextToText.from_pretrained(policy_dir, dtype=dtype).to(device)
    # The KL anchor is the stage's starting model, also after a resume.
    reference = AutoModelForImageTextToText.from_pretrained(base_dir, dtype=dtype).to(device).eval()
    reference.requires_grad_(False)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.learning_rate)
    if trainer_state is not None:
        optimizer.load_state_dict(trainer_state["optimizer"])
        state = LoopState(**trainer_state["loop"])
    encoder = TrajectoryEncoder(processor, cfg.system_prompt)
    engine = build_engine(cfg.engine, model=policy, model_dir=policy_dir, encoder=encoder,
                          max_images=cfg.max_images, seed=cfg.seed)
    writer = SummaryWriter(str(scratch / "tensorboard"))
    return Stage(cfg, run, rows, policy, reference, processor, optimizer, engine, encoder, scratch, state, writer)


def _fetch_model(run: stores.ArtifactStore, model: str, local: Path) -> Path:
    """`model` is a key under the run root (default sft/final) or any store URI/path."""
    if "://" in model or model.startswith("/"):
        source = stores.open_store(model)
    else:
        source = run.child(model)
    return sft_checkpoints.download_model(source, local)


async def _train(stage: Stage, runner: rollout.CodeRunner | None) -> None:
    cfg = stage.cfg
    judge_cm = (
        JudgeClient(cfg.judge.endpoint, cfg.judge.model, timeout_seconds=cfg.judge.timeout_seconds,
                    max_retries=cfg.judge.max_retries, backoff_seconds=cfg.judge.backoff_seconds,
                    concurrency=cfg.judge.concurrency)
        if cfg.judge.endpoint else contextlib.nullcontext(None)
    )
    owned = runner is None
    runner = runner or SandboxRunner.from_url(cfg.sandbox_url)
    try:
        async with judge_cm as judge:
            while stage.state.step < cfg.steps:
                if not await _one_step(stage, runner, judge):
                    continue  # a judge outage: the same step again, until max_outage_steps in a row
                step = stage.state.step
                if step % cfg.save_steps == 0 or step == cfg.steps:
                    key = checkpoints.save(stage.run, step, stage.policy, stage.processor,
                                           {"optimizer": stage.optimizer.state_dict(), "loop": vars(stage.state)},
                                           stage.scratch)
                    log.info("rl: step %d checkpointed to %s", step, key)
    finally:
        if owned and isinstance(runner, SandboxRunner):
            await runner.aclose()


async def _one_step(stage: Stage, runner: rollout.CodeRunner, judge: JudgeClient | None) -> bool:
    """Roll out, score and update once; False when a judge outage left the step undone."""
    cfg, state = stage.cfg, stage.state
    step = state.step + 1
    picked = [stage.rows[i] for i in prompts.step_rows(len(stage.rows), state.step, cfg.batch_size, cfg.seed)]
    trajectories = prompts.trajectories_for(stage.run, picked, step, cfg.num_generations)
    started = time.perf_counter()
    await rollout.rollout(trajectories, stage.engine, runner, _settings(cfg), seed=cfg.seed + step)
    metrics = records.rollout_metrics(trajectories, time.perf_counter() - started)
    requests = [scoring.ScoreRequest(t.question, t.completion, t.truth) for t in trajectories]
    try:
        scores = await scoring.score_batch(requests, cfg.rewards, judge)
    except JudgeError as exc:
        state.outage_steps, state.consecutive_outages = state.outage_steps + 1, state.consecutive_outages + 1
        log.error("rl: step %d: judge outage (%d in a row), no update on unknown rewards, the step will be "
                  "rolled out again: %s", step, state.consecutive_outages, exc)
        metrics |= records.judge_metrics(_judge_stats(judge), outage=True)
        _write_step(stage, step, trajectories, None, None, metrics)
        _write_status(stage, "judge_outage", f"step {step}: {exc}")
        if state.consecutive_outages >= cfg.judge.max_outage_steps:
            raise
        return False
    state.consecutive_outages = 0
    adv = advantages.group_advantages(torch.tensor([s.total for s in scores]), cfg.num_generations)
    train_stats = grpo.grpo_step(stage.policy, stage.reference, stage.optimizer, _encode_all(stage, trajectories),
                                 adv, clip_epsilon=cfg.clip_epsilon, kl_beta=cfg.kl_beta,
                                 max_grad_norm=cfg.max_grad_norm)
    if hasattr(stage.engine, "sync_weights"):
        stage.engine.sync_weights(stage.policy)
    metrics |= records.reward_metrics(scores) | records.judge_metrics(_judge_stats(judge), outage=False)
    metrics |= {f"train/{k}": v for k, v in train_stats.items()}
    mean_reward = metrics["reward/total"]
    state.step, state.last_mean_reward = step, mean_reward
    state.reward_sum += sum(s.total for s in scores)
    state.reward_count += len(scores)
    _write_step(stage, step, trajectories, scores, adv.tolist(), metrics)
    _write_status(stage, "running", f"step {step}/{cfg.steps}: mean reward {mean_reward:.4f}")
    log.info("rl: step %d/%d reward %.4f tool calls/traj %.2f loss %.4f", step, cfg.steps, mean_reward,
             metrics["rollout/tool_calls_per_trajectory"], train_stats["loss"])
    return True


def _settings(cfg: RLConfig) -> rollout.RolloutSettings:
    return rollout.RolloutSettings(
        max_rounds=cfg.max_rounds,
        max_images=cfg.max_images,
        text=rollout.Sampling(cfg.text_temperature, cfg.max_new_tokens, rollout.TEXT_STOPS, cfg.top_p, cfg.top_k),
        code=rollout.Sampling(cfg.code_temperature, cfg.max_new_tokens, rollout.CODE_STOPS),
    )


def _judge_stats(judge: JudgeClient | None) -> JudgeStats:
    return judge.stats.take() if judge is not None else JudgeStats()


def _encode_all(stage: Stage, trajectories: list[rollout.Trajectory]) -> list[grpo.EncodedTrajectory]:
    """Encode each trajectory; one that cannot be encoded is marked and left out of the loss."""
    out = []
    for t in trajectories:
        try:
            out.append(stage.encoder.encode(t))
        except Exception as exc:  # a broken trajectory must not take the step down with it
            log.warning("rl: trajectory %s cannot be encoded, no loss from it: %s", t.id, exc)
            t.failure = t.failure or f"encoding failed: {exc}"
            out.append(grpo.EncodedTrajectory(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.bool)))
    return out


def _write_step(stage: Stage, step: int, trajectories: list[rollout.Trajectory], scores: Any, adv: Any,
                metrics: dict[str, float]) -> None:
    for name, value in metrics.items():
        stage.writer.add_scalar(name, value, step)
    stage.writer.flush()
    stage.state.history.append({"step": float(step), **{k: v for k, v in metrics.items() if k.startswith("reward/")}})
    lines = []
    for i, t in enumerate(trajectories[: stage.cfg.keep_rollouts]):
        keys = []
        for k, data in enumerate(b for s in t.segments for b in s.images):
            key = stores.join("rl/rollouts", f"{step:08d}", f"{t.id}-{k}.png")
            stage.run.put_bytes(key, data)
            keys.append(key)
        record = records.trajectory_record(t, scores[i] if scores else None, adv[i] if adv else None, keys)
        lines.append(json.dumps(record, ensure_ascii=False))
    stage.run.put_bytes(f"rl/rollouts/{step:08d}.jsonl", ("\n".join(lines) + "\n").encode())
    _upload_tensorboard(stage)


def _upload_tensorboard(stage: Stage) -> None:
    local = stage.scratch / "tensorboard"
    if local.is_dir():
        sft_checkpoints.upload_dir(stage.run, local, "rl/tensorboard")


def _write_status(stage: Stage, state: str, message: str) -> None:
    stores.put_json(stage.run, STATUS, {"state": state, "step": stage.state.step, "message": message,
                                        "updated_at": time.time()})


def _finish(stage: Stage) -> None:
    """rl/final/ (an HF model directory, manifest last), then rl/manifest.json: the commit point."""
    cfg, state = stage.cfg, stage.state
    local = checkpoints.save_model(stage.policy, stage.processor, stage.scratch / "final")
    sft_checkpoints.upload_dir(stage.run, local, FINAL)
    sft_checkpoints.commit(stage.run, FINAL, {"step": state.step, "stage": "rl"})
    summary = {
        "steps": state.step,
        "final": FINAL,
        "mean_reward": state.reward_sum / state.reward_count if state.reward_count else None,
        "last_mean_reward": state.last_mean_reward,
        "trajectories_scored": state.reward_count,
        "judge_outage_steps": state.outage_steps,
        "accuracy": "rules, then judge" if cfg.judge.endpoint else "rule-only: no judge configured, "
                    "undecided answers scored 0 and consistency not measured",
        "rollouts": "rl/rollouts",
        "tensorboard": "rl/tensorboard",
        "config": json.loads(cfg.model_dump_json()),
    }
    _write_status(stage, "done", f"{state.step} steps, mean reward {summary['mean_reward']}")
    stores.put_json(stage.run, MANIFEST, summary)
    log.info("rl: done, %s", stage.run.location(MANIFEST))
