"""The rl stage's configuration: one pydantic model for the CLI, the config file and the pod.

The operator maps the ThymeRun's `spec.stages.rl` onto exactly these snake_case fields
and hands them over as JSON in `THYME_STAGE_CONFIG`; locally, `thyme rl --config FILE`
reads the same fields from YAML or JSON. Errors name the field and say what to do.
Defaults are Thyme's RL recipe, from `thyme_operator.recipe`, where the ThymeRun API
takes its defaults too: 4 generations, text temperature 1.0, code temperature 0.0,
top-p 0.9, top-k 50, lr 5e-7, KL 0.01, clip 0.2, ZeRO-3, reward weights format 0.5 and
consistency 0.5. A CPU run sets `deepspeed: null`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thyme_jobs.modelio.formatting import DEFAULT_SYSTEM_PROMPT
from thyme_jobs.stage_config import ENV_CONFIG, ConfigError, read, resolve_system_prompt, validate  # noqa: F401 - re-exported
from thyme_operator import recipe



class RewardWeights(BaseModel):
    """total = accuracy * w_accuracy * (1 + consistency * w_consistency) + format * w_format."""

    model_config = ConfigDict(extra="forbid")

    format: float = Field(recipe.REWARD_FORMAT, ge=0, le=10, description="Weight of the strict think/answer format reward.")
    accuracy: float = Field(recipe.REWARD_ACCURACY, ge=0, le=10, description="Weight of the answer's correctness (rule, then judge).")
    consistency: float = Field(recipe.REWARD_CONSISTENCY, ge=0, le=10, description="Weight of reasoning/answer consistency (judge; only when correct).")


class JudgeConfig(BaseModel):
    """An OpenAI-compatible chat endpoint that grades answers the rules cannot decide."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str | None = Field(
        None, description="Base URL such as http://judge:8000/v1; unset means rule-only accuracy and no consistency."
    )
    model: str = Field("judge", min_length=1, description="The served model name sent in each request.")
    timeout_seconds: float = Field(recipe.JUDGE_TIMEOUT_SECONDS, gt=0, le=3600, description="Time limit of one judge request.")
    max_retries: int = Field(recipe.JUDGE_MAX_RETRIES, ge=0, le=20, description="Retries of a failed request, with exponential backoff.")
    backoff_seconds: float = Field(recipe.JUDGE_BACKOFF_SECONDS, ge=0, le=60, description="First backoff; doubles per retry.")
    concurrency: int = Field(16, ge=1, le=1024, description="Judge requests in flight at once.")
    max_outage_steps: int = Field(
        recipe.JUDGE_MAX_OUTAGE_STEPS, ge=1, le=1000, description="Judge outages in a row (each retries the step) before the stage fails."
    )


class RLConfig(BaseModel):
    """What `thyme rl` does."""

    model_config = ConfigDict(extra="forbid")

    # I/O
    run_root: str = Field(description="The run root URI (a path, file:// or s3://) holding data/ and sft/.")
    model: str = Field(
        "sft/final",
        description="The policy to start from: an HF model directory as a key under the run root or a store URI.",
    )
    splits: list[str] = Field(min_length=1, description="Converted splits under data/ whose rows are the prompts.")
    system_prompt: str | None = Field(
        DEFAULT_SYSTEM_PROMPT, description="System turn of every prompt; the SFT stage's default, which the policy learned."
    )
    system_prompt_uri: str | None = Field(
        None, description="Store URI (s3://bucket/key or a path) of a UTF-8 text file to use as the system turn "
                          "instead, read when the stage starts: the prompt the policy was trained with."
    )
    # rollout
    num_generations: int = Field(recipe.RL_NUM_GENERATIONS, ge=2, le=64, description="Trajectories per prompt (the GRPO group size).")
    max_rounds: int = Field(recipe.RL_MAX_ROUNDS, ge=1, le=32, description="Text generation rounds per trajectory (each may call the sandbox once).")
    max_images: int = Field(recipe.RL_MAX_IMAGES, ge=1, le=64, description="Images per trajectory, the input image included.")
    text_temperature: float = Field(recipe.RL_TEXT_TEMPERATURE, ge=0, le=5, description="Sampling temperature outside <code>.")
    code_temperature: float = Field(recipe.RL_CODE_TEMPERATURE, ge=0, le=5, description="Sampling temperature inside <code> (0 = greedy).")
    top_p: float = Field(recipe.RL_TOP_P, gt=0, le=1, description="Nucleus sampling for the text phase.")
    top_k: int = Field(recipe.RL_TOP_K, ge=0, description="Top-k sampling for the text phase; 0 disables it.")
    max_new_tokens: int = Field(recipe.RL_MAX_NEW_TOKENS, ge=1, le=65536, description="Token limit of one generation call.")
    engine: Literal["auto", "transformers", "vllm"] = Field(
        "auto", description="Generation engine; auto picks vllm when CUDA and vllm are present."
    )
    rewards: RewardWeights = Field(default_factory=RewardWeights)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    sandbox_url: str = Field(description="Base URL of the sandbox service, such as http://thyme-sandbox:8080.")
    # optimisation
    learning_rate: float = Field(recipe.RL_LEARNING_RATE, gt=0, le=1, description="AdamW learning rate (Thyme used 5e-7).")
    kl_beta: float = Field(recipe.RL_KL_BETA, ge=0, le=10, description="Weight of the k3 KL penalty to the reference model.")
    clip_epsilon: float = Field(recipe.RL_CLIP_EPSILON, gt=0, lt=1, description="PPO ratio clip.")
    steps: int = Field(ge=1, description="Optimisation steps; each rolls out batch_size prompts x num_generations.")
    batch_size: int = Field(recipe.RL_BATCH_SIZE, ge=1, le=4096, description="Prompts per step.")
    save_steps: int = Field(recipe.RL_SAVE_STEPS, ge=1, description="Checkpoint every this many steps (and at the end).")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    deepspeed: Literal["zero2", "zero3"] | None = Field(
        recipe.RL_DEEPSPEED, description="DeepSpeed ZeRO stage of the update (the SFT stage's configs); null: a plain AdamW, "
                          "gradients averaged over the torchrun processes.")
    freeze_vision: bool = Field(
        recipe.RL_FREEZE_VISION, description="Keep the vision tower (ViT and patch merger) frozen, as the SFT stage does by default "
                          "(Thyme's RL froze the ViT and trained the merger). With deepspeed, a trainable tower "
                          "needs an image in every prompt.")
    seed: int = Field(recipe.SEED, ge=0, description="Seeds prompt order and sampling.")
    keep_rollouts: int = Field(
        8, ge=0, le=4096, description="Trajectories per step written to rl/rollouts/ for people to inspect."
    )

    @model_validator(mode="after")
    def _check_combinations(self) -> "RLConfig":
        if self.system_prompt_uri is not None and "system_prompt" in self.model_fields_set:
            raise ValueError("give system_prompt or system_prompt_uri, not both")
        if self.save_steps > self.steps:
            self.save_steps = self.steps
        if self.judge.endpoint is not None and not self.judge.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"judge.endpoint {self.judge.endpoint!r} must start with http:// or https://")
        if not self.sandbox_url.startswith(("http://", "https://")):
            raise ValueError(f"sandbox_url {self.sandbox_url!r} must start with http:// or https://")
        return self


def load_config(path: str | None, environ: dict[str, str] | None = None) -> RLConfig:
    """The file when given, else the JSON in THYME_STAGE_CONFIG."""
    return resolve_system_prompt(parse_config(read(path, environ)))


def parse_config(data: Any) -> RLConfig:
    return validate(RLConfig, data, "rl")
