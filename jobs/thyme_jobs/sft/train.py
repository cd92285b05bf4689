"""One SFT phase on the transformers Trainer, with our two hooks: metrics and store checkpoints.

The Trainer already does what we would otherwise re-write and get subtly wrong: the loop
(lr step, micro-steps with gradient accumulation, clipping, optimizer step, logging,
saving), DDP over torchrun's environment, DeepSpeed ZeRO, bf16 autocast, gradient
checkpointing, and resuming with optimizer, scheduler, RNG and data position (it re-seeds
the sampler and skips the batches already seen). We override one hook per behaviour:

- `ThymeTrainer.compute_loss` counts the tokens of each micro-batch and how many carry
  loss; `ThymeTrainer.log` turns those counts into tokens/s and masked fraction (summed
  over ranks) on every log line, which the Trainer's TensorBoard callback writes.
- `StoreCheckpoints` forces a save on a phase's last step and copies every save to the
  store, manifest last (see `checkpoints`).

A phase is one Trainer: its own learning rate, schedule and optimizer, starting from the
previous phase's weights, as the reference's stage 2 starts from stage 1's checkpoint.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from thyme_jobs import store as stores
from thyme_jobs.modelio import checkpoints
from thyme_jobs.sft import masking
from thyme_jobs.sft.config import SFTConfig
from thyme_jobs.modelio.deepspeed_config import deepspeed_config, require_deepspeed

log = logging.getLogger(__name__)

CHECKPOINTS = "sft/checkpoints"


@dataclass
class PhasePlan:
    """Where a phase sits in the run: its index, the global step it starts at, its step cap."""

    index: int
    step_offset: int
    max_steps: int  # -1: run the phase's epochs to the end


@dataclass
class Counters:
    tokens: int = 0
    trainable: int = 0
    since: float = field(default_factory=time.perf_counter)
    total_tokens: int = 0
    total_trainable: int = 0
    total_seconds: float = 0.0


class ThymeTrainer(Trainer):
    """The Trainer plus token counting for tokens/s and masked fraction."""

    counters: Counters

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not hasattr(self, "counters"):
            self.counters = Counters()
        mask = inputs.get("attention_mask")
        self.counters.tokens += int(mask.sum()) if mask is not None else inputs["input_ids"].numel()
        self.counters.trainable += int((inputs["labels"] != masking.IGNORE_INDEX).sum())
        return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                    num_items_in_batch=num_items_in_batch)

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        c = getattr(self, "counters", None)
        if c is not None and "loss" in logs:
            # summed over ranks: every rank calls log() at the same step, so this collective is safe
            counts = torch.tensor([c.tokens, c.trainable], dtype=torch.float64, device=self.args.device)
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(counts)
            tokens, trainable = counts.tolist()
            now = time.perf_counter()
            seconds = max(now - c.since, 1e-9)
            logs["tokens_per_second"] = tokens / seconds
            logs["masked_fraction"] = 1.0 - trainable / max(tokens, 1.0)
            c.total_tokens += int(tokens)
            c.total_trainable += int(trainable)
            c.total_seconds += seconds
            c.tokens = c.trainable = 0
            c.since = now
        super().log(logs, *args, **kwargs)


class StoreCheckpoints(TrainerCallback):
    """Copy each Trainer save to `sft/checkpoints/<global step>/`, manifest last."""

    def __init__(self, run_root: stores.ArtifactStore, plan: PhasePlan, local_rank: int, extra: dict[str, Any],
                 tensorboard: tuple[Path, str] | None = None):
        self.run_root, self.plan, self.local_rank, self.extra = run_root, plan, local_rank, extra
        self.tensorboard = tensorboard  # (local event dir, store prefix): copied with each save

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_save = True  # the next phase (or the final model) starts from here
        return control

    def on_save(self, args, state, control, **kwargs):
        local = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        step = self.plan.step_offset + state.global_step
        prefix = checkpoints.checkpoint_key(CHECKPOINTS, step)
        if self.local_rank == 0 and local.is_dir():
            checkpoints.upload_dir(self.run_root, local, prefix)
        _barrier()
        if state.is_world_process_zero:
            checkpoints.commit(self.run_root, prefix, {
                "step": step, "phase": self.plan.index, "phase_step": state.global_step,
                "phase_done": state.global_step >= state.max_steps, "epoch": state.epoch,
                "loss": _last(state.log_history, "loss"), **self.extra,
            })
            log.info("checkpoint %s committed (phase %d step %d)", prefix, self.plan.index, state.global_step)
            if self.tensorboard and self.tensorboard[0].is_dir():
                checkpoints.upload_dir(self.run_root, *self.tensorboard)
        _barrier()
        return control


def training_arguments(cfg: SFTConfig, plan: PhasePlan, output_dir: Path) -> TrainingArguments:
    """TrainingArguments for one phase of `cfg`; DeepSpeed only when asked for and importable."""
    cuda = torch.cuda.is_available()
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and cuda and torch.cuda.is_bf16_supported())
    ds = None
    if cfg.deepspeed:
        require_deepspeed(cfg.deepspeed)
        ds = deepspeed_config(cfg.deepspeed, bf16=bf16)
    phase = cfg.phases[plan.index]
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=phase.learning_rate,
        num_train_epochs=phase.epochs,
        max_steps=plan.max_steps,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,  # a float below 1 is a fraction of the phase's steps
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        bf16=bf16,
        use_cpu=not cuda,
        # gloo is the only backend torch.distributed has on CPU; naming it outside torchrun
        # would make accelerate look for a process group that does not exist
        ddp_backend="gloo" if not cuda and _world_size() > 1 else None,
        ddp_find_unused_parameters=False,
        activation_checkpointing=cfg.gradient_checkpointing,
        # non-reentrant checkpointing works when the inputs need no grad (frozen ViT in front)
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        deepspeed=ds,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=1,  # the store keeps the history; local disk keeps the newest only
        logging_strategy="steps",
        logging_steps=cfg.logging_steps,
        report_to="none",  # TensorBoard is our own callback instance, writing where we choose
        remove_unused_columns=False,  # our collator's keys are the model's inputs already
        dataloader_num_workers=cfg.dataloader_num_workers,
        seed=cfg.seed,
        data_seed=cfg.seed,
        disable_tqdm=True,
    )


def tensorboard_callback(log_dir: Path, is_main: bool) -> TrainerCallback:
    """A TensorBoard writer for one phase; event files land in `log_dir` (rank 0 only)."""
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    return TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir)) if is_main else None)


def natural_steps(n_rows: int, epochs: float, cfg: SFTConfig, world_size: int) -> int:
    """Optimizer steps a phase takes without a cap (micro-batches per rank / accumulation)."""
    per_rank = math.ceil(n_rows / (cfg.per_device_batch_size * world_size))
    return max(1, math.ceil(per_rank * epochs / cfg.gradient_accumulation_steps))


def _world_size() -> int:
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))


def _barrier() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def _last(history: list[dict[str, Any]], key: str) -> float | None:
    for entry in reversed(history):
        if key in entry:
            return entry[key]
    return None
