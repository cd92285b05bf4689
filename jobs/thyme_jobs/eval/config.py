"""The eval stage's configuration: one pydantic model for `thyme eval`, the config file and the pod.

The operator maps `spec.stages.eval` onto these snake_case fields (JSON in
`THYME_STAGE_CONFIG`); `thyme eval --config FILE` reads the same from YAML or JSON.
Defaults are VLMEvalKit's Thyme settings (research notes 1.1 and 1.4): 2048 new tokens,
temperature 0.01, top_p 0.001, top_k 1, 5 iterations x 5 attempts, stop at
`</code>`/`</answer>`, 1.0 on retries, the simple-prompt fallback. Every known quirk of
the reference is a field here with the reference's behaviour as its default, so a
deviation is a visible choice in the config, never a silent one.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thyme_jobs.eval.scorers import BENCHMARKS
from thyme_jobs.modelio.formatting import DEFAULT_SYSTEM_PROMPT
from thyme_jobs.stage_config import ConfigError, read, resolve_system_prompt, validate  # noqa: F401 - re-exported

DEFAULT_CHECKPOINTS = ("base", "sft/final", "rl/final")


class BenchmarkSource(BaseModel):
    """One benchmark: its name (which fixes its scorer) and where its TSV is."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description=f"One of {', '.join(BENCHMARKS)}; picks the columns and the scorer.")
    tsv: str = Field(description="The VLMEvalKit TSV: a key under the run root or any store URI/path.")
    limit: int | None = Field(None, ge=1, description="Score only the first this many items (quick runs).")
    protocol: Literal["thyme", "deepeyes"] = Field(
        "thyme", description="'deepeyes': run VStarBench with DeepEyes' zoom-in tool and score it by DeepEyes' rules.")

    @model_validator(mode="after")
    def _known(self) -> "BenchmarkSource":
        if self.name not in BENCHMARKS:
            raise ValueError(f"benchmark name {self.name!r} is not one of {', '.join(BENCHMARKS)}")
        if self.protocol == "deepeyes" and self.name != "VStarBench":
            raise ValueError(f"benchmark {self.name!r}: protocol 'deepeyes' has DeepEyes' rules for VStarBench only")
        return self


class EvalJudge(BaseModel):
    """The answer-matching judge for V* and HR-Bench (VLMEvalKit asks one when `can_infer` fails)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str | None = Field(None, description="OpenAI-compatible base URL; unset: exact matching (not inferable = wrong).")
    model: str = Field("judge", min_length=1, description="Served model name sent in each request.")
    timeout_seconds: float = Field(60.0, gt=0, le=3600)
    max_retries: int = Field(
        2, ge=0, le=20, description="Retries per item after the first ask (VLMEvalKit asks 3 times in all); a reply "
                                    "without a letter and a failed request both use one.")
    concurrency: int = Field(16, ge=1, le=1024)
    on_failure: Literal["random", "wrong"] = Field(
        "random", description="After 3 judge replies without a letter: 'random' picks an option (the reference; "
                              "seeded per item), 'wrong' scores the item wrong.")


class EvalConfig(BaseModel):
    """What `thyme eval` does."""

    model_config = ConfigDict(extra="forbid")

    # I/O
    run_root: str = Field(description="The run root URI (a path, file:// or s3://); results go to eval/ under it.")
    benchmarks: list[BenchmarkSource] = Field(min_length=1, max_length=16)
    checkpoints: list[str] | None = Field(
        None, description="Model directories to score: 'base', or keys under the run root (sft/final, rl/final), or store "
                          "URIs. Unset: base, sft/final and rl/final, whichever exist.")
    base_model: str | None = Field(None, description="Store URI of the base model, which the checkpoint name 'base' means.")
    system_prompt: str | None = Field(
        DEFAULT_SYSTEM_PROMPT, description="System turn of the tool mode: the run's configured prompt (what SFT/RL trained on).")
    system_prompt_uri: str | None = Field(
        None, description="Store URI of a UTF-8 text file to use as the system turn instead, read when the stage "
                          "starts (the prompt the checkpoints were trained with, e.g. Thyme's scripts/prompt.txt).")
    image_path_template: str = Field(
        "/mnt/data/LMUData/images/{benchmark}/{index}.jpg",
        description="The path the user prompt names for the image (VLMEvalKit names its dump file "
                    "<LMUData>/images/<dataset>/<index>.jpg); the sandbox points image_path at the real image.")
    protocol: Literal["thyme"] = Field("thyme", description="The tool protocol and loop: VLMEvalKit's Thyme loop.")
    # generation (VLMEvalKit's defaults)
    engine: Literal["auto", "transformers", "vllm"] = Field("auto", description="auto: vLLM with CUDA, else transformers.")
    batch_size: int = Field(16, ge=1, le=4096, description="Items run side by side; their segments are generated in one call.")
    max_new_tokens: int = Field(2048, ge=1, le=65536, description="Token limit of one segment.")
    temperature: float = Field(0.01, ge=0, le=5)
    top_p: float = Field(0.001, gt=0, le=1)
    top_k: int = Field(1, ge=0)
    max_iterations: int = Field(5, ge=1, le=64, description="Segments per attempt.")
    max_retry: int = Field(5, ge=1, le=64, description="Attempts per item.")
    retry_temperature: float | None = Field(
        1.0, ge=0, le=5, description="Temperature after a failed attempt or a skipped image (the reference's 1.0; with "
                                     "top_k 1 still greedy); null keeps `temperature`.")
    fallback: bool = Field(True, description="One simple-prompt generation when no attempt answered.")
    rollback: Literal["replay", "none"] = Field(
        "replay", description="After a failed code run, rebuild the sandbox session from the good runs (the reference "
                              "restores its context); 'none' keeps the session as the failed run left it.")
    max_images: int | None = Field(None, ge=1, le=256, description="Images per item the model may see; null: no limit.")
    min_pixels: int | None = Field(None, ge=784, description="Processor pixel floor; null: the model's default.")
    max_pixels: int | None = Field(None, ge=784, description="Processor pixel cap; null: the model's default.")
    # tools and scoring
    sandbox_url: str = Field(description="Base URL of the sandbox service.")
    judge: EvalJudge = Field(default_factory=EvalJudge)
    # scale
    num_shards: int = Field(1, ge=1, le=1024, description="Pods of the Indexed Job; item i belongs to shard i mod num_shards.")
    shard_index: int | None = Field(None, ge=0, description="This pod's shard; null: $JOB_COMPLETION_INDEX, else every shard.")
    save_every: int = Field(16, ge=1, le=4096, description="Items per committed part file (what a crash can lose at most).")
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> "EvalConfig":
        if not self.sandbox_url.startswith(("http://", "https://")):
            raise ValueError(f"sandbox_url {self.sandbox_url!r} must start with http:// or https://")
        if self.judge.endpoint is not None and not self.judge.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"judge.endpoint {self.judge.endpoint!r} must start with http:// or https://")
        if self.shard_index is not None and self.shard_index >= self.num_shards:
            raise ValueError(f"shard_index {self.shard_index} must be below num_shards {self.num_shards}")
        names = [b.name for b in self.benchmarks]
        if len(set(names)) != len(names):
            raise ValueError(f"benchmarks lists a name twice: {names}")
        if self.system_prompt_uri is not None and "system_prompt" in self.model_fields_set:
            raise ValueError("give system_prompt or system_prompt_uri, not both")
        if self.checkpoints is not None and "base" in self.checkpoints and self.base_model is None:
            raise ValueError("checkpoints names 'base' but base_model is not set; give base_model (a store URI)")
        return self


def load_config(path: str | None, environ: dict[str, str] | None = None) -> EvalConfig:
    """The file when given, else THYME_STAGE_CONFIG; `system_prompt_uri` read from the store."""
    return resolve_system_prompt(parse_config(read(path, environ)))


def parse_config(data: Any) -> EvalConfig:
    return validate(EvalConfig, data, "eval")
