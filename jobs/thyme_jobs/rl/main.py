"""The rl stage: GRPO-ATS on converted rows, from the SFT model, into rl/ of the run root.

How to run it:

    thyme rl --config rl.yaml                      # one process: CPU or one GPU
    torchrun --standalone --nproc-per-node 8 -m thyme_cli.main rl --config rl.yaml
    THYME_STAGE_CONFIG='{"run_root": ...}' thyme rl  # in a pod (the operator sets this)

One step, in this order: pick the step's prompts; roll out `num_generations`
trajectories each (text at 1.0, code at 0.0, the sandbox in between); score them
(rules, then the judge); group-normalise the advantages; one GRPO update; write the
sampled trajectories and the metrics; checkpoint every `save_steps`. At the end the
policy goes to `rl/final/` and `rl/manifest.json` is written last: the commit point.
A rerun that finds it exits at once; one that does not resumes from the newest
complete checkpoint.

With several processes (torchrun; gloo on CPU) each rolls out and scores a block of
whole groups (`ranks`), every rank gathers every rank's share of the step, the update
averages gradients over ranks (a plain AdamW, or DeepSpeed ZeRO with `deepspeed`), and
rank 0 alone writes metrics, rollouts, status and manifests.

A judge outage marks the step (no update on unknown rewards, `judge/outage` = 1, an
error log line, `rl/status.json` with state `judge_outage`), and the step is rolled out
again; after `judge.max_outage_steps` outages in a row the stage fails with the judge's
error (exit code 3). An outage never turns into rewards of 0. An outage on any rank is
the step's outage on every rank.

Sandbox faults (`faults.py`) are handled alike: a trajectory the service cut short gets
no weight in the update, and a step where more than `sandbox_max_fault_rate` of the
trajectories faulted is not trained on, is marked (`sandbox/outage` = 1, `rl/status.json`
state `sandbox_faults`) and rolled out again, `sandbox_max_fault_steps` times in a row
at most. Before the first step the trainer waits, bounded by `server_wait_seconds`, for
the sandbox's /readyz and the judge's /health; a step holds at most
`sandbox_max_sessions` sessions (per process, its share), rolled out in waves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from thyme_jobs import progress
from thyme_jobs import store as stores
from thyme_jobs.failures import InputError
from thyme_jobs.agent import engines, protocols, thyme_code
from thyme_jobs.agent import loop as rollout
from thyme_jobs.agent.encoding import TrajectoryEncoder
from thyme_jobs.agent.sandbox_runner import SandboxRunner
from thyme_jobs.deepeyes import protocol as deepeyes_protocol
from thyme_jobs.deepeyes import rewards as deepeyes_rewards
from thyme_jobs.deepeyes import scoring as deepeyes_scoring
from thyme_jobs.modelio import checkpoints as store_checkpoints
from thyme_jobs.rl import (advantages, checkpoints, faults, grpo, prompts, ranks, readiness, records, scoring,
                           updates, waves)
from thyme_jobs.rl.config import RLConfig
from thyme_jobs.rl.judge import JudgeClient, JudgeError, JudgeStats

log = logging.getLogger(__name__)

MANIFEST = "rl/manifest.json"
STATUS = "rl/status.json"
FINAL = "rl/final"


@dataclass
class LoopState:
    """The counters a checkpoint carries besides the weights and the optimizer (equal on every rank)."""

    step: int = 0
    reward_sum: float = 0.0
    reward_count: int = 0
    last_mean_reward: float | None = None
    outage_steps: int = 0
    consecutive_outages: int = 0
    sandbox_fault_steps: int = 0
    consecutive_sandbox_faults: int = 0
    sandbox_fault_trajectories: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Stage:
    cfg: RLConfig
    run: stores.ArtifactStore
    rows: list[dict[str, Any]]
    update: Any  # updates.PlainUpdate | updates.DeepSpeedUpdate
    reference: Any
    processor: Any
    engine: Any
    encoder: TrajectoryEncoder
    scratch: Path
    state: LoopState
    writer: Any  # TensorBoard, on rank 0 only
    world: ranks.World


def run_stage(cfg: RLConfig, runner: thyme_code.CodeRunner | None = None, engine: rollout.Engine | None = None) -> int:
    """The whole stage; `runner` and `engine` replace the sandbox service and the model's engine (tests)."""
    run = stores.open_store(cfg.run_root)
    if run.exists(MANIFEST):
        log.info("rl: %s exists, nothing to do", run.location(MANIFEST))
        return 0
    world = ranks.from_environment()
    started = ranks.start(world, group=cfg.deepspeed is not None)
    try:
        torch.manual_seed(cfg.seed)
        scratch = ranks.node_scratch(world, "thyme-rl-")
        try:
            stage = _prepare(cfg, run, scratch, world)
            if engine is not None:
                stage.engine = engine
            try:
                asyncio.run(_train(stage, runner))
            finally:
                if stage.writer is not None:
                    stage.writer.close()
                    _upload_tensorboard(stage)
            _finish(stage)
        finally:
            if world.is_node_main:
                shutil.rmtree(scratch, ignore_errors=True)
    except BaseException:
        # a world of one has no peer to wait for (and tests run stages in one process);
        # with peers, a rank leaving after an error could wait out one still in a collective
        if not world.distributed:
            ranks.stop(started)
        raise
    ranks.stop(started)
    return 0


def _prepare(cfg: RLConfig, run: stores.ArtifactStore, scratch: Path, world: ranks.World) -> Stage:
    from torch.utils.tensorboard import SummaryWriter

    from thyme_jobs.modelio.processor import load_processor

    rows = prompts.read_rows(run, cfg.splits)
    per_rank = len(ranks.group_share(cfg.batch_size, world)) * cfg.num_generations  # checks the split first
    if cfg.deepspeed == "zero3" and world.distributed and engines.resolve(cfg.engine) != "vllm":
        raise InputError(
            "deepspeed: zero3 with several processes needs engine: vllm: ZeRO-3 gathers parameters collectively "
            "in every forward pass, and transformers' generate runs a different number of them on each rank "
            "(trajectories end at different lengths); use deepspeed: zero2 with the transformers engine")
    if world.is_node_main:
        store_checkpoints.fetch_model(run, cfg.model, scratch / "base")
    resume = checkpoints.newest_complete(run)
    if resume is not None and world.is_node_main:
        checkpoints.download(run, resume, scratch / "resume")
    ranks.barrier(world)
    policy_dir = scratch / "resume" / checkpoints.MODEL if resume is not None else scratch / "base"
    processor = load_processor(policy_dir)
    update = _build_update(cfg, policy_dir, world, per_rank)
    # The KL anchor is the stage's starting model, also after a resume; without a KL term
    # (kl_beta 0) there is nothing to anchor, and a second copy of the model is not loaded.
    reference = None
    if cfg.kl_beta > 0:
        reference = updates.reference_model(_load_model(scratch / "base", world), cfg.deepspeed, update)
    state = LoopState()
    if resume is not None:
        saved = checkpoints.trainer_state(scratch / "resume")
        update.load(scratch / "resume", saved)
        state = LoopState(**saved["loop"])
        log.info("rl: resuming from step %d", resume["step"])
    encoder = TrajectoryEncoder(processor, cfg.system_prompt)
    engine = engines.build_engine(cfg.engine, model=update.model, model_dir=policy_dir, encoder=encoder,
                                  max_images=cfg.max_images, seed=cfg.seed)
    writer = SummaryWriter(str(scratch / "tensorboard")) if world.is_main else None
    return Stage(cfg, run, rows, update, reference, processor, engine, encoder, scratch, state, writer, world)


def _load_model(path: Path, world: ranks.World) -> torch.nn.Module:
    from transformers import AutoModelForImageTextToText

    dtype = torch.bfloat16 if world.device.startswith("cuda") else torch.float32
    return AutoModelForImageTextToText.from_pretrained(path, dtype=dtype).to(world.device)


def _build_update(cfg: RLConfig, policy_dir: Path, world: ranks.World, micro_steps: int) -> Any:
    from thyme_jobs.modelio.freezing import freeze_vision

    if cfg.deepspeed is not None:  # fail before loading anything when DeepSpeed is missing
        from thyme_jobs.modelio.deepspeed_config import require_deepspeed

        require_deepspeed(cfg.deepspeed)
    policy = _load_model(policy_dir, world)
    if cfg.freeze_vision:
        freeze_vision(policy)
    if cfg.deepspeed is None:
        return updates.PlainUpdate.adamw(policy, learning_rate=cfg.learning_rate, max_grad_norm=cfg.max_grad_norm,
                                         world=world)
    return updates.DeepSpeedUpdate(policy, cfg.deepspeed, micro_steps=micro_steps, learning_rate=cfg.learning_rate,
                                   max_grad_norm=cfg.max_grad_norm, bf16=world.device.startswith("cuda"),
                                   world=world)


async def _train(stage: Stage, runner: thyme_code.CodeRunner | None) -> None:
    cfg = stage.cfg
    judge_cm = (
        JudgeClient(cfg.judge.endpoint, cfg.judge.model, timeout_seconds=cfg.judge.timeout_seconds,
                    max_retries=cfg.judge.max_retries, backoff_seconds=cfg.judge.backoff_seconds,
                    concurrency=cfg.judge.concurrency)
        if cfg.judge.endpoint else contextlib.nullcontext(None)
    )
    owned = runner is None and cfg.recipe == "thyme"
    tool_client = None
    tool: protocols.ToolProtocol
    if cfg.recipe == "deepeyes":  # the crop runs here, in the trainer: no sandbox (deepeyes/protocol.py)
        tool = deepeyes_protocol.DeepEyesZoom.for_processor(stage.processor)
    elif cfg.recipe == "openthinkimg":
        from thyme_jobs.openthinkimg.protocol import OpenThinkImg
        from thyme_tools.client import ToolClient

        tool_client = await ToolClient.from_front(cfg.tools_url or "")
        tool = OpenThinkImg(tool_client)
    else:
        runner = runner or SandboxRunner.from_url(cfg.sandbox_url, sandbox_timeout=cfg.sandbox_timeout_seconds)
        tool = thyme_code.ThymeCode(runner)
    try:
        await _wait_for_servers(cfg, sandbox=owned)
        async with judge_cm as judge:
            while stage.state.step < cfg.steps:
                if not await _one_step(stage, tool, judge):
                    continue  # a judge or sandbox outage: the same step again, until its limit in a row
                step = stage.state.step
                if step % cfg.save_steps == 0 or step == cfg.steps:
                    key = checkpoints.save(stage.run, step, stage.update, stage.processor, vars(stage.state),
                                           stage.scratch, stage.world)
                    log.info("rl: step %d checkpointed to %s", step, key)
    finally:
        if owned and isinstance(runner, SandboxRunner):
            await runner.aclose()
        if tool_client is not None:
            await tool_client.aclose()


async def _wait_for_servers(cfg: RLConfig, sandbox: bool) -> None:
    """The sandbox (when this stage talks to the service) and the judge, up before step one."""
    probes = [readiness.sandbox_probe(cfg.sandbox_url)] if sandbox else []
    if cfg.judge.endpoint:
        probes.append(readiness.judge_probe(cfg.judge.endpoint))
    if probes:
        await readiness.wait_ready(probes, cfg.server_wait_seconds)


async def _roll_out(stage: Stage, trajectories: list[rollout.Trajectory], tool: protocols.ToolProtocol,
                    seed: int) -> None:
    """All trajectories, in waves no larger than this process's share of the sandbox sessions."""
    budget = waves.session_budget(stage.cfg.sandbox_max_sessions, stage.world.size)
    for index, wave in enumerate(waves.waves(trajectories, budget)):
        # One wave keeps the step's seed; later waves get their own, or a group split
        # across waves would sample the same completions twice.
        await rollout.rollout(wave, stage.engine, tool, _settings(stage.cfg, tool),
                              seed=seed + index * 7919)


async def _one_step(stage: Stage, tool: protocols.ToolProtocol, judge: JudgeClient | None) -> bool:
    """Roll out, score and update once; False when a judge or sandbox outage left the step undone."""
    cfg, state, world = stage.cfg, stage.state, stage.world
    step = state.step + 1
    groups = ranks.group_share(cfg.batch_size, world)
    rows = prompts.step_rows(len(stage.rows), state.step, cfg.batch_size, cfg.seed)
    picked = [stage.rows[rows[g]] for g in groups]
    trajectories = prompts.trajectories_for(stage.run, picked, step, cfg.num_generations, first_group=groups.start)
    started = time.perf_counter()
    # Distinct sampling seeds per rank; a single process keeps its historical seed.
    await _roll_out(stage, trajectories, tool, seed=(cfg.seed + step) * world.size + world.rank)
    seconds = time.perf_counter() - started
    scores, outage = None, None
    try:
        scores = await _score(cfg, picked, trajectories, judge, tool)
    except JudgeError as exc:
        outage = exc
    mine = records.share(groups.start * cfg.num_generations, trajectories, scores, _judge_stats(judge), seconds,
                         outage, cfg.keep_rollouts)
    whole = records.merge(ranks.all_gather(mine, world))
    metrics = records.rollout_metrics(whole.trajectories, whole.seconds)
    if whole.outage is not None:
        return _outage(stage, step, whole, metrics, own=outage)
    valid = faults.valid_mask(whole.trajectories)
    state.sandbox_fault_trajectories += len(valid) - sum(valid)
    if faults.too_many(valid, cfg.sandbox_max_fault_rate):
        return _sandbox_outage(stage, step, whole, metrics, valid)
    state.consecutive_outages = state.consecutive_sandbox_faults = 0
    totals = torch.tensor([s.total for s in whole.scores])
    adv = advantages.group_advantages(totals, cfg.num_generations,
                                      valid=torch.tensor(valid))
    first = groups.start * cfg.num_generations
    encoded = _encode_all(stage, trajectories)
    train_stats = grpo.grpo_update(stage.update, stage.reference, encoded, adv[first:first + len(trajectories)],
                                   clip_epsilon=cfg.clip_epsilon, kl_beta=cfg.kl_beta)
    if hasattr(stage.engine, "sync_weights"):
        with stage.update.full_weights() as model:
            stage.engine.sync_weights(model)
    metrics |= records.reward_metrics([s for s, ok in zip(whole.scores, valid) if ok] or whole.scores)
    metrics |= records.judge_metrics(whole.judge, outage=False) | _fault_metrics(valid, outage=False)
    metrics |= {f"train/{k}": v for k, v in train_stats.items()}
    metrics["reward/zero_variance_groups"] = advantages.zero_variance_fraction(totals, cfg.num_generations)
    mean_reward = metrics["reward/total"]
    state.step, state.last_mean_reward = step, mean_reward
    trained = [s for s, ok in zip(whole.scores, valid) if ok]
    state.reward_sum += sum(s.total for s in trained)
    state.reward_count += len(trained)
    _write_step(stage, step, whole, adv.tolist(), metrics)
    _write_status(stage, "running", f"step {step}/{cfg.steps}: mean reward {mean_reward:.4f}")
    if world.is_main:
        # not the loss: on-policy its value is -mean(A) - beta*KL, 0 by construction at the first step
        progress.report("rl step", step, cfg.steps, reward=mean_reward, format=metrics["reward/format"],
                        accuracy=metrics["reward/accuracy"],
                        zero_var_groups=metrics["reward/zero_variance_groups"],
                        tool_calls_per_traj=metrics["rollout/tool_calls_per_trajectory"],
                        sandbox_faults=int(metrics["sandbox/faults"]), kl=train_stats["kl"],
                        grad_norm=train_stats["grad_norm"], clip=train_stats["clip_fraction"])
    return True


def _outage(stage: Stage, step: int, whole: records.StepShare, metrics: dict[str, float],
            own: BaseException | None) -> bool:
    """A judge outage on any rank: no rank updates; after max_outage_steps in a row every rank raises."""
    state = stage.state
    state.outage_steps, state.consecutive_outages = state.outage_steps + 1, state.consecutive_outages + 1
    if stage.world.is_main:
        log.error("rl: step %d: judge outage (%d in a row), no update on unknown rewards, the step will be "
                  "rolled out again: %s", step, state.consecutive_outages, whole.outage)
    metrics |= records.judge_metrics(whole.judge, outage=True)
    _write_step(stage, step, whole, None, metrics)
    _write_status(stage, "judge_outage", f"step {step}: {whole.outage}")
    if state.consecutive_outages >= stage.cfg.judge.max_outage_steps:
        raise own if own is not None else whole.outage
    return False


def _fault_metrics(valid: list[bool], outage: bool) -> dict[str, float]:
    return {"sandbox/fault_rate": faults.fault_rate(valid), "sandbox/untrained_trajectories": float(valid.count(False)),
            "sandbox/outage": float(outage)}


def _sandbox_outage(stage: Stage, step: int, whole: records.StepShare, metrics: dict[str, float],
                    valid: list[bool]) -> bool:
    """Too many trajectories cut short by sandbox faults: no update; past the limit in a row, the stage fails."""
    state, cfg = stage.state, stage.cfg
    state.sandbox_fault_steps += 1
    state.consecutive_sandbox_faults += 1
    rate = faults.fault_rate(valid)
    message = (f"step {step}: {valid.count(False)} of {len(valid)} trajectories cut short by sandbox faults "
               f"({rate:.0%} > sandbox_max_fault_rate {cfg.sandbox_max_fault_rate:.0%}); first: "
               f"{next((t.failure for t in whole.trajectories if t.finish_reason == faults.SANDBOX_FAULT), '')}")
    if stage.world.is_main:
        log.error("rl: %s; no update, the step will be rolled out again (%d in a row)", message,
                  state.consecutive_sandbox_faults)
    metrics |= _fault_metrics(valid, outage=True)
    _write_step(stage, step, whole, None, metrics)
    _write_status(stage, "sandbox_faults", message)
    if state.consecutive_sandbox_faults >= cfg.sandbox_max_fault_steps:
        raise faults.SandboxFaultsExceeded(
            f"{state.consecutive_sandbox_faults} steps in a row over the sandbox fault limit; last {message}; "
            "check the sandbox pods (kubectl logs) and sandbox.replicas/memory")
    return False


async def _score(cfg: RLConfig, rows: list[dict[str, Any]], trajectories: list[rollout.Trajectory],
                 judge: JudgeClient | None, tool: protocols.ToolProtocol) -> list[Any]:
    """The recipe's rewards; trajectories come `num_generations` per row, in row order."""
    if cfg.recipe == "openthinkimg":
        from thyme_jobs.openthinkimg import rewards as openthinkimg_rewards

        return [openthinkimg_rewards.breakdown(t, tool.answer(t), cfg.rewards) for t in trajectories]
    if cfg.recipe == "deepeyes":
        # every bad call (unparsable, or a box the rules refuse) counted in sandbox_errors costs -0.05
        requests = [deepeyes_scoring.DeepEyesRequest(
            t.question.replace(rollout.IMAGE, "").strip(), t.completion, t.truth,
            deepeyes_rewards.rule_for(str(rows[i // cfg.num_generations].get("data_source") or "")), t.sandbox_errors)
            for i, t in enumerate(trajectories)]
        return await deepeyes_scoring.score_batch(requests, judge, cfg.tool_bonus)
    thyme = [scoring.ScoreRequest(t.question, t.completion, t.truth) for t in trajectories]
    return await scoring.score_batch(thyme, cfg.rewards, judge)


def _settings(cfg: RLConfig, tool: protocols.ToolProtocol) -> rollout.RolloutSettings:
    return rollout.RolloutSettings(
        max_rounds=cfg.max_rounds,
        max_images=cfg.max_images,
        text=rollout.Sampling(cfg.text_temperature, cfg.max_new_tokens, protocols.text_stops(tool), cfg.top_p,
                              cfg.top_k),
        code=rollout.Sampling(cfg.code_temperature, cfg.max_new_tokens, protocols.call_stops(tool)),
    )


def _judge_stats(judge: JudgeClient | None) -> JudgeStats:
    return judge.stats.take() if judge is not None else JudgeStats()


def _encode_all(stage: Stage, trajectories: list[rollout.Trajectory]) -> list[grpo.EncodedTrajectory]:
    """Encode each trajectory; one that cannot be encoded is marked and left out of the loss.

    In its place goes its prompt alone with no policy tokens: it contributes nothing, yet
    still passes the same parts of the model (the vision tower with the input image),
    which a lockstep (DeepSpeed) update needs on every rank.
    """
    out = []
    for t in trajectories:
        if t.finish_reason == faults.SANDBOX_FAULT:  # cut short by the service: no signal, no loss
            out.append(_prompt_only(stage, t))
            continue
        try:
            out.append(stage.encoder.encode(t))
        except Exception as exc:  # a broken trajectory must not take the step down with it
            log.warning("rl: trajectory %s cannot be encoded, no loss from it: %s", t.id, exc)
            t.failure = t.failure or f"encoding failed: {exc}"
            out.append(_prompt_only(stage, t))
    if stage.update.lockstep and not stage.cfg.freeze_vision:
        blind = [t.id for t, e in zip(trajectories, out) if "pixel_values" not in e.extra]
        if blind:
            raise ValueError(f"trajectories {blind[:4]} have no image: with deepspeed and freeze_vision: false every "
                             "trajectory must pass the vision tower (DeepSpeed reduces the gradients of the same "
                             "parameters on every rank); set freeze_vision: true or give every prompt an image")
    return out


def _prompt_only(stage: Stage, t: rollout.Trajectory) -> grpo.EncodedTrajectory:
    try:
        prompt = rollout.Trajectory(t.id, t.prompt_id, t.question, t.input_images, t.truth)
        seq = stage.encoder.encode(prompt)
        return grpo.EncodedTrajectory(seq.input_ids, torch.zeros_like(seq.loss_mask), seq.extra)
    except Exception:
        return grpo.EncodedTrajectory(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.bool))


def _write_step(stage: Stage, step: int, whole: records.StepShare, adv: list[float] | None,
                metrics: dict[str, float]) -> None:
    """TensorBoard scalars and rl/rollouts/<step>.jsonl (rank 0), and the reward history (every rank)."""
    stage.state.history.append({"step": float(step), **{k: v for k, v in metrics.items() if k.startswith("reward/")}})
    if not stage.world.is_main:
        return
    for name, value in metrics.items():
        stage.writer.add_scalar(name, value, step)
    stage.writer.flush()
    lines = []
    for i, t in enumerate(whole.trajectories[: stage.cfg.keep_rollouts]):
        keys = []
        for k, data in enumerate(b for s in t.segments for b in s.images):
            key = stores.join("rl/rollouts", f"{step:08d}", f"{t.id}-{k}.png")
            stage.run.put_bytes(key, data)
            keys.append(key)
        record = records.trajectory_record(t, whole.scores[i] if whole.scores else None, adv[i] if adv else None, keys)
        lines.append(json.dumps(record, ensure_ascii=False))
    stage.run.put_bytes(f"rl/rollouts/{step:08d}.jsonl", ("\n".join(lines) + "\n").encode())
    _upload_tensorboard(stage)


def _upload_tensorboard(stage: Stage) -> None:
    local = stage.scratch / "tensorboard"
    if stage.world.is_main and local.is_dir():
        store_checkpoints.upload_dir(stage.run, local, "rl/tensorboard")


def _write_status(stage: Stage, state: str, message: str) -> None:
    if stage.world.is_main:
        stores.put_json(stage.run, STATUS, {"state": state, "step": stage.state.step, "message": message,
                                            "updated_at": time.time()})


def _finish(stage: Stage) -> None:
    """rl/final/ (an HF model directory, manifest last), then rl/manifest.json: the commit point."""
    cfg, state, world = stage.cfg, stage.state, stage.world
    local = checkpoints.save_model(stage.update, stage.processor, stage.scratch / "final", world)
    if world.is_main:
        store_checkpoints.upload_dir(stage.run, local, FINAL)
        store_checkpoints.commit(stage.run, FINAL, {"step": state.step, "stage": "rl"})
        summary = {
            "steps": state.step,
            "final": FINAL,
            "mean_reward": state.reward_sum / state.reward_count if state.reward_count else None,
            "last_mean_reward": state.last_mean_reward,
            "trajectories_scored": state.reward_count,
            "judge_outage_steps": state.outage_steps,
            "sandbox_fault_steps": state.sandbox_fault_steps,
            "sandbox_fault_trajectories": state.sandbox_fault_trajectories,
            "recipe": cfg.recipe,
            "accuracy": ("rules, then judge" if cfg.judge.endpoint else "rule-only: no judge configured, "
                         "undecided answers scored 0" + ("" if cfg.recipe == "deepeyes"
                                                         else " and consistency not measured")),
            "rollouts": "rl/rollouts",
            "tensorboard": "rl/tensorboard",
            "world_size": world.size,
            "update": stage.update.describe(),
            "config": json.loads(cfg.model_dump_json()),
        }
        _write_status(stage, "done", f"{state.step} steps, mean reward {summary['mean_reward']}")
        stores.put_json(stage.run, MANIFEST, summary)
        log.info("rl: done, %s", stage.run.location(MANIFEST))
    ranks.barrier(world)
