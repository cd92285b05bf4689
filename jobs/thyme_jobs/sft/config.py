"""The SFT stage's configuration: the one place its knobs are named, checked and documented.

The operator maps a ThymeRun's `spec.stages.sft` onto exactly these snake_case fields and
hands them over as JSON in `THYME_STAGE_CONFIG`; `thyme sft --config FILE` reads the same
fields from YAML or JSON. Validation errors name the field (pydantic's `loc`), and the
cross-field checks in `_check_combinations` say what to do instead.

Defaults follow the reference recipe (research/thyme.md section 3) where it has one:
lr 1e-5, 3 epochs, batch 1 x 16 accumulation per GPU, ZeRO-2, frozen ViT,
MAX_PIXELS = 3,211,264 (4096 visual tokens of 28x28), max length 10,240, warmup 5%.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thyme_jobs.modelio.formatting import DEFAULT_SYSTEM_PROMPT


class Phase(BaseModel):
    """One pass over some splits at one learning rate (the reference has two: phase 1 on
    the single-round and 2round splits at 1e-5, phase 2 annealing on computation at 1e-6)."""

    model_config = ConfigDict(extra="forbid")

    splits: list[str] = Field(min_length=1, description="converted splits this phase trains on, mixed and shuffled")
    learning_rate: float = Field(gt=0, le=1.0, description="peak learning rate of this phase")
    epochs: float = Field(default=1.0, gt=0, description="passes over the phase's rows")


class SFTConfig(BaseModel):
    """Everything `thyme sft` needs; unknown fields are errors so a typo never goes unseen."""

    model_config = ConfigDict(extra="forbid")

    # --- I/O -------------------------------------------------------------------------
    run_root: str = Field(description="store URI of the run (s3://bucket/prefix/runs/ns/run or a path)")
    model: str = Field(description="store URI of an HF Qwen2-VL / Qwen2.5-VL model directory (weights + processor)")

    # --- data ------------------------------------------------------------------------
    phases: list[Phase] = Field(min_length=1, description="training phases, in order")
    max_length: int = Field(default=10240, ge=16, description="tokens per row, image tokens included")
    overlong: Literal["skip"] = Field(
        default="skip",
        description="what to do with a row longer than max_length: 'skip' drops it (counted and reported "
        "in sft/manifest.json), its slot taken by the next row that fits; rows are never cut, so "
        "never inside a tag or an image")
    max_pixels: int = Field(default=3_211_264, ge=3136, description="pixel cap per image (28*28*4096 in the reference)")
    min_pixels: int = Field(default=3136, ge=784, description="pixel floor per image (the Qwen2-VL processor's 56*56)")
    system_prompt: str | None = Field(default=DEFAULT_SYSTEM_PROMPT, description="system turn; null for none")
    train_rounds: Literal["last", "all"] = Field(
        default="last",
        description="'last' learns only the final code round and the answer of multi-round rows "
        "(the reference, +0.6..2.7 points in its ablation); 'all' learns every round")

    # --- optimisation ------------------------------------------------------------------
    per_device_batch_size: int = Field(default=1, ge=1)
    gradient_accumulation_steps: int = Field(default=16, ge=1)
    warmup_ratio: float = Field(default=0.05, ge=0, lt=1, description="linear warmup, fraction of each phase")
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1, description="cap on optimizer steps over all phases")
    seed: int = 0

    # --- model and memory ------------------------------------------------------------
    freeze_vision: bool = Field(default=True, description="freeze the ViT (the reference's --freeze_vit true)")
    gradient_checkpointing: bool = False
    deepspeed: Literal["zero2", "zero3"] | None = Field(default=None, description="ZeRO stage; needs the gpu extra")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        default="auto", description="'auto': bf16 on a GPU that supports it, fp32 on CPU")
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"] = "auto"

    # --- checkpoints and logs ----------------------------------------------------------
    save_steps: int = Field(default=500, ge=1, description="checkpoint to the store every N optimizer steps")
    logging_steps: int = Field(default=1, ge=1, description="TensorBoard and log line every N steps")
    work_dir: str | None = Field(
        default=None, description="local scratch for model/checkpoint copies; default a temp dir (THYME_WORK_DIR)")
    dataloader_num_workers: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check_combinations(self) -> "SFTConfig":
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) exceeds max_pixels ({self.max_pixels}); "
                             "lower min_pixels or raise max_pixels")
        for i, phase in enumerate(self.phases):
            if len(set(phase.splits)) != len(phase.splits):
                raise ValueError(f"phases[{i}].splits lists a split twice: {phase.splits}; "
                                 "list it once and raise epochs to repeat it")
        if self.deepspeed and self.precision == "fp32":
            raise ValueError(f"deepspeed={self.deepspeed!r} with precision='fp32': DeepSpeed ZeRO here is "
                             "configured for bf16 on GPUs; use precision 'auto' or 'bf16', or drop deepspeed")
        return self


def load_config(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> SFTConfig:
    """The config from a YAML/JSON file, or from JSON in THYME_STAGE_CONFIG (how pods get it).

    Raises ConfigError (a ValueError) whose message names each bad field as
    `phases.0.learning_rate: ...`.
    """
    from thyme_jobs.stage_config import read, validate

    return validate(SFTConfig, read(path, env), "sft")
