"""The SFT stage's configuration: the one place its knobs are named, checked and documented.

The operator maps a ThymeRun's `spec.stages.sft` onto exactly these snake_case fields and
hands them over as JSON in `THYME_STAGE_CONFIG`; `thyme sft --config FILE` reads the same
fields from YAML or JSON. Validation errors name the field (pydantic's `loc`), and the
cross-field checks in `_check_combinations` say what to do instead.

Defaults are Thyme's published recipe, from `thyme_operator.recipe`, the same module
the ThymeRun API takes its defaults from (so `thyme sft --config` and a ThymeRun train
alike): lr 1e-5, 3 epochs, batch 1 x 16 accumulation per GPU, ZeRO-2, frozen ViT,
MAX_PIXELS = 3,211,264 (4096 visual tokens of 28x28), max length 10,240, warmup 5%.
A CPU run sets `deepspeed: null` (and usually `gradient_checkpointing: false`).
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thyme_jobs.modelio.formatting import DEFAULT_SYSTEM_PROMPT
from thyme_operator import recipe


class Phase(BaseModel):
    """One pass over some splits at one learning rate (the reference has two: phase 1 on
    the single-round and 2round splits at 1e-5, phase 2 annealing on computation at 1e-6)."""

    model_config = ConfigDict(extra="forbid")

    splits: list[str] = Field(min_length=1, description="converted splits this phase trains on, mixed and shuffled")
    learning_rate: float = Field(default=recipe.SFT_LEARNING_RATE, gt=0, le=1.0, description="peak learning rate of this phase")
    epochs: float = Field(default=recipe.SFT_EPOCHS, gt=0, description="passes over the phase's rows")


class SFTConfig(BaseModel):
    """Everything `thyme sft` needs; unknown fields are errors so a typo never goes unseen."""

    model_config = ConfigDict(extra="forbid")

    # --- I/O -------------------------------------------------------------------------
    run_root: str = Field(description="store URI of the run (s3://bucket/prefix/runs/ns/run or a path)")
    model: str = Field(description="store URI of an HF Qwen2-VL / Qwen2.5-VL model directory (weights + processor)")

    # --- data ------------------------------------------------------------------------
    phases: list[Phase] = Field(min_length=1, description="training phases, in order")
    max_length: int = Field(default=recipe.SFT_MAX_LENGTH, ge=16, description="tokens per row, image tokens included")
    overlong: Literal["skip"] = Field(
        default="skip",
        description="what to do with a row longer than max_length: 'skip' drops it (counted and reported "
        "in sft/manifest.json), its slot taken by the next row that fits; rows are never cut, so "
        "never inside a tag or an image")
    max_pixels: int = Field(default=recipe.SFT_MAX_PIXELS, ge=3136, description="pixel cap per image (28*28*4096 in the reference)")
    min_pixels: int = Field(default=recipe.SFT_MIN_PIXELS, ge=784, description="pixel floor per image (the Qwen2-VL processor's 56*56)")
    system_prompt: str | None = Field(default=DEFAULT_SYSTEM_PROMPT, description="system turn; null for none")
    system_prompt_uri: str | None = Field(
        default=None, description="store URI (s3://bucket/key or a path) of a UTF-8 text file to use as the system "
        "turn instead, e.g. Thyme's own scripts/prompt.txt; read when the stage starts")
    train_rounds: Literal["last", "all"] = Field(
        default=recipe.SFT_TRAIN_ROUNDS,
        description="'last' learns only the final code round and the answer of multi-round rows "
        "(the reference, +0.6..2.7 points in its ablation); 'all' learns every round")

    # --- optimisation ------------------------------------------------------------------
    per_device_batch_size: int = Field(default=recipe.SFT_PER_DEVICE_BATCH_SIZE, ge=1)
    gradient_accumulation_steps: int = Field(default=recipe.SFT_GRADIENT_ACCUMULATION_STEPS, ge=1)
    warmup_ratio: float = Field(default=recipe.SFT_WARMUP_RATIO, ge=0, lt=1, description="linear warmup, fraction of each phase")
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"] = recipe.SFT_LR_SCHEDULER
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1, description="cap on optimizer steps over all phases")
    seed: int = recipe.SEED

    # --- model and memory ------------------------------------------------------------
    freeze_vision: bool = Field(default=recipe.SFT_FREEZE_VISION, description="freeze the ViT (the reference's --freeze_vit true)")
    gradient_checkpointing: bool = recipe.SFT_GRADIENT_CHECKPOINTING
    deepspeed: Literal["zero2", "zero3"] | None = Field(
        default=recipe.SFT_DEEPSPEED, description="ZeRO stage, or null for a plain optimizer (a CPU run)")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        default="auto", description="'auto': bf16 on a GPU that supports it, fp32 on CPU")
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"] = "auto"

    # --- checkpoints and logs ----------------------------------------------------------
    save_steps: int = Field(default=recipe.SFT_SAVE_STEPS, ge=1, description="checkpoint to the store every N optimizer steps")
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
        if self.system_prompt_uri is not None and "system_prompt" in self.model_fields_set:
            raise ValueError("give system_prompt or system_prompt_uri, not both")
        if self.deepspeed and self.precision == "fp32":
            raise ValueError(f"deepspeed={self.deepspeed!r} with precision='fp32': DeepSpeed ZeRO here is "
                             "configured for bf16 on GPUs; use precision 'auto' or 'bf16', or drop deepspeed")
        return self


def load_config(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> SFTConfig:
    """The config from a YAML/JSON file, or from JSON in THYME_STAGE_CONFIG (how pods get it).

    Raises ConfigError (a ValueError) whose message names each bad field as
    `phases.0.learning_rate: ...`.
    """
    from thyme_jobs.stage_config import read, resolve_system_prompt, validate

    return resolve_system_prompt(validate(SFTConfig, read(path, env), "sft"))
