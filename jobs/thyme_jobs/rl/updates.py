"""How the policy's weights change: a plain torch AdamW, or DeepSpeed ZeRO; and the frozen reference.

Both sit behind the same small surface, which `grpo.grpo_update` drives and the stage
saves through:

- `forward`: what the loss's forward pass runs (the DeepSpeed engine, so ZeRO-3 can
  gather parameters); `model`: the plain module, which generates and is exported.
- `backward(loss)`: one trajectory's micro-step; `step()`: finish the update (average
  over ranks, clip, optimizer step) and return the gradient norm before clipping.
- `total(values)`: sums over ranks, so the loss is the mean over every rank's
  trajectories; `world_size`: what gradient averaging divides by.
- `lockstep`: True when every rank must run the same backward passes through the same
  parameters (DeepSpeed reduces gradients inside each backward), so trajectories without
  policy tokens take part at weight 0 instead of being skipped.
- `save(local)` / `load(local, state)`: optimizer state for a checkpoint (plain: one
  file from rank 0; DeepSpeed: its own per-rank files, a collective call);
  `export_state_dict()`: the weights to export when the module's own are partial
  (ZeRO-3 gathers 16-bit weights onto rank 0), else None.

Both use AdamW with torch's defaults (betas 0.9/0.999, eps 1e-8, weight decay 0.01), so
switching DeepSpeed on changes where the state lives, not the update. DeepSpeed gets
torch's AdamW too ("torch_adam"): no CUDA op to compile at start-up, and the optimizer
step is a small part of an RL step, which rollouts dominate.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from thyme_jobs.rl import ranks
from thyme_jobs.modelio import deepspeed_config as ds_config

log = logging.getLogger(__name__)

OPTIMIZER_DEFAULTS = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}  # torch.optim.AdamW's
DEEPSPEED_DIR = "deepspeed"


def trainable(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


class PlainUpdate:
    """A torch optimizer; with several ranks, gradients are averaged once per step (see `ranks`)."""

    lockstep = False

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, *,
                 max_grad_norm: float = 1.0, world: ranks.World | None = None) -> None:
        self.model = self.forward = model
        self.optimizer = optimizer
        self.max_grad_norm = max_grad_norm
        self.world = world or ranks.World()
        self.world_size = self.world.size

    @classmethod
    def adamw(cls, model: torch.nn.Module, *, learning_rate: float, max_grad_norm: float,
              world: ranks.World | None = None) -> "PlainUpdate":
        optimizer = torch.optim.AdamW(trainable(model), lr=learning_rate, **OPTIMIZER_DEFAULTS)
        return cls(model, optimizer, max_grad_norm=max_grad_norm, world=world)

    def train(self) -> None:
        self.model.train()

    def total(self, values: list[float]) -> list[float]:
        return ranks.total(values, self.world)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def step(self) -> float:
        params = trainable(self.model)
        ranks.average_gradients(params, self.world)
        norm = torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], self.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def save(self, local: Path) -> dict[str, Any]:
        """What trainer.pt carries for this update (rank 0 writes it; the ranks' states are equal)."""
        return {"optimizer": self.optimizer.state_dict()}

    def load(self, local: Path, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])

    def export_state_dict(self) -> dict[str, torch.Tensor] | None:
        return None  # the module's own state dict is whole

    @contextlib.contextmanager
    def full_weights(self) -> Iterator[torch.nn.Module]:
        yield self.model

    def describe(self) -> dict[str, Any]:
        return {"kind": "plain", "world_size": self.world_size}


class DeepSpeedUpdate:
    """`deepspeed.initialize` over the policy: ZeRO-2 partitions optimizer state and gradients,
    ZeRO-3 the parameters too.

    `micro_steps` is the number of trajectories each rank backpropagates per step (its
    gradient-accumulation steps): the engine reduces gradients and steps the optimizer at
    the last one. Losses arrive already weighted (mean over all ranks' trajectories times
    the world size, which DeepSpeed's averaging divides out), so the engine must not
    divide by the accumulation steps again (`scale_wrt_gas=False`).
    """

    lockstep = True

    def __init__(self, model: torch.nn.Module, stage: str, *, micro_steps: int, learning_rate: float,
                 max_grad_norm: float, bf16: bool, world: ranks.World) -> None:
        ds_config.require_deepspeed(stage)
        import deepspeed

        self.stage = stage
        self.world = world
        self.world_size = world.size
        self.micro_steps = micro_steps
        self.config = ds_config.resolved_config(
            stage, bf16=bf16, micro_batch_size=1, gradient_accumulation_steps=micro_steps, world_size=world.size,
            max_grad_norm=max_grad_norm, hidden_size=hidden_size(model))
        self.config["optimizer"] = {"type": "AdamW", "params": {
            "lr": learning_rate, "betas": list(OPTIMIZER_DEFAULTS["betas"]), "eps": OPTIMIZER_DEFAULTS["eps"],
            "weight_decay": OPTIMIZER_DEFAULTS["weight_decay"], "torch_adam": True}}
        self.engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=trainable(model), config=self.config)
        self.model = self.engine.module
        self.forward = self.engine
        self._done = 0

    def train(self) -> None:
        self.engine.train()

    def total(self, values: list[float]) -> list[float]:
        return ranks.total(values, self.world)

    def zero_grad(self) -> None:
        pass  # the engine clears gradients after its optimizer step

    def backward(self, loss: torch.Tensor) -> None:
        self.engine.backward(loss, scale_wrt_gas=False)
        self.engine.step()  # a no-op until the last micro-step, where it reduces and updates
        self._done += 1

    def step(self) -> float:
        done, self._done = self._done, 0
        if done != self.micro_steps:
            raise RuntimeError(f"DeepSpeed update: {done} backward passes this step, expected {self.micro_steps} "
                               "(every rank rolls out batch_size / processes prompts x num_generations)")
        norm = self.engine.get_global_grad_norm()
        return float(norm) if norm is not None else 0.0

    def save(self, local: Path) -> dict[str, Any]:
        """Every rank writes its partition under `local/deepspeed/`; trainer.pt only names the tag."""
        self.engine.save_checkpoint(str(local / DEEPSPEED_DIR), tag="state", save_latest=False)
        return {"deepspeed": {"tag": "state", "stage": self.stage, "world_size": self.world_size}}

    def load(self, local: Path, state: dict[str, Any]) -> None:
        saved = state.get("deepspeed")
        if saved is None:
            log.warning("rl: the checkpoint has no DeepSpeed state (saved without DeepSpeed): the optimizer starts fresh")
            return
        if saved["world_size"] != self.world_size or saved["stage"] != self.stage:
            log.warning("rl: the checkpoint's DeepSpeed state is %s over %d ranks, this run %s over %d: "
                        "weights resume, the optimizer starts fresh",
                        saved["stage"], saved["world_size"], self.stage, self.world_size)
            return
        path, _ = self.engine.load_checkpoint(str(local / DEEPSPEED_DIR), tag=saved["tag"],
                                              load_optimizer_states=True, load_lr_scheduler_states=False)
        if path is None:
            raise FileNotFoundError(f"no DeepSpeed checkpoint {saved['tag']!r} under {local / DEEPSPEED_DIR}")

    def export_state_dict(self) -> dict[str, torch.Tensor] | None:
        """Under ZeRO-3 the gathered 16-bit weights on rank 0 (a collective); else None: the
        module's own state dict is whole (ZeRO-2 partitions only optimizer state and gradients)."""
        if self.stage == "zero3":
            return self.engine._zero3_consolidated_16bit_state_dict()
        return None

    @contextlib.contextmanager
    def full_weights(self) -> Iterator[torch.nn.Module]:
        """The module with every parameter whole (ZeRO-3 gathers them all; a collective)."""
        if self.stage != "zero3":
            yield self.model
            return
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(self.model.parameters()), modifier_rank=None):
            yield self.model

    def describe(self) -> dict[str, Any]:
        return {"kind": "deepspeed", "stage": self.stage, "world_size": self.world_size}


def reference_model(model: torch.nn.Module, stage: str | None, update: Any) -> Any:
    """The frozen KL anchor: a plain eval copy, or under ZeRO-3 an optimizer-less engine
    whose parameters are sharded like the policy's (a full 7B copy per GPU is what ZeRO-3
    is there to avoid). Its forward passes run in lockstep with the policy's, so the
    parameter gathers line up across ranks."""
    model.eval()
    model.requires_grad_(False)
    if stage != "zero3":
        return model
    import deepspeed

    config = {k: v for k, v in update.config.items() if k != "optimizer"}
    engine, _, _, _ = deepspeed.initialize(model=model, config=config)
    engine.eval()
    return engine


def hidden_size(model: torch.nn.Module) -> int:
    """The language model's width (DeepSpeed's bucket sizes scale with its square)."""
    config = getattr(model, "config", None)
    for source in (config, getattr(config, "text_config", None)):
        if source is not None and getattr(source, "hidden_size", None):
            return int(source.hidden_size)
    raise ValueError(f"{type(model).__name__} has no config.hidden_size or config.text_config.hidden_size; "
                     "DeepSpeed's bucket sizes are derived from it")
