"""The SFT stage program: config in, `sft/` artifacts out, resumable at any point.

How to run it:

    # one process on CPU or one GPU (the quickstart)
    thyme sft --config sft.yaml
    # one node, 8 GPUs
    torchrun --nproc_per_node 8 -m thyme_cli.main sft --config sft.yaml
    # N nodes (what the operator's Indexed Job runs; MASTER_ADDR is the headless Service)
    torchrun --nnodes $NNODES --node_rank $NODE_RANK --nproc_per_node $NPROC_PER_NODE \
             --master_addr $MASTER_ADDR --master_port $MASTER_PORT -m thyme_cli.main sft

Order of work: exit at once if `sft/manifest.json` exists (the stage is done); fetch the
model to local disk; find the newest complete checkpoint; run each phase not yet done
(the one in flight resumes from its checkpoint); save `sft/final/`, manifest last; write
`sft/manifest.json`, the stage's commit point, with the metrics summary.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from thyme_jobs import store as stores
from thyme_jobs.sft.config import SFTConfig

log = logging.getLogger(__name__)

STAGE_MANIFEST = "sft/manifest.json"
FINAL = "sft/final"
TENSORBOARD = "sft/tensorboard"


def run(cfg: SFTConfig) -> dict[str, Any] | None:
    """Run the stage; returns the stage manifest (None on ranks other than 0, or if done)."""
    run_root = stores.open_store(cfg.run_root)
    if run_root.exists(STAGE_MANIFEST):
        log.info("%s exists: the SFT stage is done", run_root.location(STAGE_MANIFEST))
        return None

    import torch
    from accelerate import PartialState

    from thyme_jobs import process_group

    # Starts torch.distributed from torchrun's environment (gloo on CPU); the Trainer reuses it.
    # cpu=True on CPU: without it accelerate calls a CPU process group "not distributed" and
    # wait_for_everyone() does not wait, so rank 1 could read the model rank 0 is still fetching.
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    cpu = not torch.cuda.is_available()
    process_group.prepare()
    state = PartialState(cpu=cpu, backend="gloo" if distributed and cpu else None)
    manifest = _train(cfg, run_root, state)
    # joins the group's threads before the interpreter exits; not after an error, when
    # another rank may still be inside a collective this one would wait out
    state.destroy_process_group()
    return manifest


def _train(cfg: SFTConfig, run_root: stores.ArtifactStore, state: Any) -> dict[str, Any] | None:
    from transformers import AutoModelForImageTextToText

    from thyme_jobs.modelio import checkpoints
    from thyme_jobs.modelio.freezing import freeze_vision
    from thyme_jobs.modelio.processor import load_processor
    from thyme_jobs.sft import data, train

    world, rank, local_rank = state.num_processes, state.process_index, state.local_process_index
    work = Path(cfg.work_dir or os.environ.get("THYME_WORK_DIR") or tempfile.mkdtemp(prefix="thyme-sft-"))
    model_dir = work / "model"
    if local_rank == 0 and not (model_dir / "config.json").is_file():
        checkpoints.download_model(stores.open_store(cfg.model, read_only=True), model_dir)
    state.wait_for_everyone()

    resume = checkpoints.newest_complete(run_root, train.CHECKPOINTS)
    plans = _plan_phases(cfg, resume, run_root, world)
    processor = load_processor(model_dir)
    encoder = data.Encoder(processor, cfg.system_prompt, cfg.max_length, cfg.train_rounds,
                           cfg.min_pixels, cfg.max_pixels)
    totals = train.Counters()
    skipped: dict[str, str] = {}
    phase_summaries: list[dict[str, Any]] = []
    trainer = None
    weights = model_dir
    if resume is not None:
        log.info("resuming from checkpoint step %d (phase %d, step %d in it)",
                 resume["step"], resume["phase"], resume["phase_step"])
    for plan in plans:
        ckpt_dir = None
        if resume is not None:
            local_ckpt = work / f"resume-{resume['step']}"
            if local_rank == 0 and not (local_ckpt / "trainer_state.json").is_file():
                checkpoints.download(run_root, resume, local_ckpt, train.CHECKPOINTS)
            state.wait_for_everyone()
            if resume["phase"] == plan.index and not resume["phase_done"]:
                ckpt_dir = local_ckpt
            weights = local_ckpt  # a finished phase's weights start the next one
            resume = None
        model = _load_model(AutoModelForImageTextToText, weights, cfg)
        if cfg.freeze_vision:
            freeze_vision(model)
        rows = data.read_rows(run_root, cfg.phases[plan.index].splits)
        dataset = data.SFTDataset(rows, run_root, encoder)
        args = train.training_arguments(cfg, plan, work / f"phase{plan.index}")
        trainer = train.ThymeTrainer(
            model=model, args=args, train_dataset=dataset,
            data_collator=lambda b: data.collate(b, processor.tokenizer.pad_token_id),
            callbacks=[train.tensorboard_callback(work / "tensorboard" / f"phase{plan.index}", rank == 0),
                       train.StoreCheckpoints(run_root, plan, local_rank, {"world_size": world},
                                              tensorboard=(work / "tensorboard", TENSORBOARD))],
        )
        trainer.counters = train.Counters()
        started = time.perf_counter()
        result = trainer.train(resume_from_checkpoint=str(ckpt_dir) if ckpt_dir else None)
        c = trainer.counters
        totals.total_tokens += c.total_tokens
        totals.total_trainable += c.total_trainable
        totals.total_seconds += c.total_seconds
        skipped.update(_gather_skipped(dataset.skipped))
        phase_summaries.append({
            "phase": plan.index, "steps": trainer.state.global_step, "train_loss": result.training_loss,
            "final_loss": train._last(trainer.state.log_history, "loss"), "rows": len(rows),
            "seconds": time.perf_counter() - started})
        weights = Path(args.output_dir) / f"checkpoint-{trainer.state.global_step}"
        if plan.index != plans[-1].index:
            del trainer.model, model
            trainer = None

    if trainer is None:  # every phase was done before this start: the last checkpoint is the model
        model = _load_model(AutoModelForImageTextToText, weights, cfg)
        final_step = plans[-1].step_offset if plans else 0
    else:
        final_step = plans[-1].step_offset + trainer.state.global_step
    return _finish(cfg, run_root, state, trainer, processor, work, final_step, totals, skipped, phase_summaries)


def _plan_phases(cfg: SFTConfig, resume: dict[str, Any] | None, run_root: stores.ArtifactStore,
                 world: int) -> list[Any]:
    """The phases still to run, each with the global step it starts at and its step cap."""
    from thyme_jobs.sft import data, train

    start_phase, offset = 0, 0
    if resume is not None:
        start_phase = resume["phase"] + (1 if resume["phase_done"] else 0)
        offset = resume["step"] - resume["phase_step"] if not resume["phase_done"] else resume["step"]
    plans = []
    for index in range(start_phase, len(cfg.phases)):
        remaining = None if cfg.max_steps is None else cfg.max_steps - offset
        if remaining is not None and remaining <= 0:
            break
        phase = cfg.phases[index]
        steps = train.natural_steps(len(data.read_rows(run_root, phase.splits)), phase.epochs, cfg, world)
        cap = remaining if remaining is not None and remaining < steps else -1
        plans.append(train.PhasePlan(index=index, step_offset=offset, max_steps=cap))
        offset += steps if cap == -1 else cap
    if not plans and resume is not None:
        # nothing left to train: finish from the newest checkpoint
        plans.append(train.PhasePlan(index=resume["phase"], step_offset=resume["step"] - resume["phase_step"],
                                     max_steps=0))
    return plans


def _load_model(auto_cls: Any, path: Path, cfg: SFTConfig):
    import torch

    cuda = torch.cuda.is_available()
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and cuda and torch.cuda.is_bf16_supported())
    attn = cfg.attn_implementation
    if attn == "auto":
        attn = "flash_attention_2" if cuda and _importable("flash_attn") else "sdpa"
    return auto_cls.from_pretrained(path, dtype=torch.bfloat16 if bf16 else torch.float32,
                                    attn_implementation=attn)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _gather_skipped(skipped: dict[str, str]) -> dict[str, str]:
    import torch

    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return dict(skipped)
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, dict(skipped))
    merged: dict[str, str] = {}
    for part in parts:
        merged.update(part or {})
    return merged


def _finish(cfg, run_root, state, trainer, processor, work, final_step, totals, skipped, phases):
    """Save sft/final (manifest last), upload TensorBoard logs, commit sft/manifest.json."""
    from thyme_jobs.modelio import checkpoints

    final_local = work / "final"
    if trainer is not None:
        trainer.save_model(str(final_local))  # gathers ZeRO-3 shards; writes on rank 0 only
    if state.is_main_process:
        processor.save_pretrained(final_local)
        checkpoints.upload_dir(run_root, final_local, FINAL)
        checkpoints.commit(run_root, FINAL, {"step": final_step, "kind": "hf-model"})
        tb = work / "tensorboard"
        if tb.is_dir():
            checkpoints.upload_dir(run_root, tb, TENSORBOARD)
    state.wait_for_everyone()
    if not state.is_main_process:
        return None
    tokens_per_second = totals.total_tokens / totals.total_seconds if totals.total_seconds else None
    manifest = {
        "stage": "sft",
        "final": FINAL,
        "steps": final_step,
        "final_loss": phases[-1]["final_loss"] if phases else None,
        "tokens_per_second": tokens_per_second,
        "masked_fraction": 1 - totals.total_trainable / totals.total_tokens if totals.total_tokens else None,
        "tokens": totals.total_tokens,
        "phases": phases,
        "skipped_rows": {"count": len(skipped), "ids": sorted(skipped)[:1000],
                         "overlong": sum(1 for r in skipped.values() if r.startswith("overlong")),
                         "malformed": sum(1 for r in skipped.values() if r.startswith("format"))},
        "tensorboard": TENSORBOARD,
        "config": json.loads(cfg.model_dump_json()),
        "world_size": state.num_processes,
    }
    stores.put_json(run_root, STAGE_MANIFEST, manifest)
    log.info("SFT done: %d steps, final loss %s, %s tokens/s", final_step, manifest["final_loss"],
             f"{tokens_per_second:.0f}" if tokens_per_second else "n/a")
    return manifest
