"""The pure mapping from a ThymeRun spec to each stage program's config.

The contract with the stage programs (docs/contracts.md, "Stage programs"): snake_case
fields as their `config.py` defines them, handed over as JSON in `THYME_STAGE_CONFIG`.
Both executors call this module, the operator for pods and `thyme run` for local
processes, so a run is configured the same way wherever it runs.
"""

from __future__ import annotations

from typing import Any

from thyme_operator import api, names, sandbox_capacity

SANDBOX_PORT = 8080
JUDGE_PORT = 8000
ROLLOUT_PORT = 8000


def run_root(spec: api.ThymeRunSpec, namespace: str, run: str) -> str:
    """s3://<bucket>/<prefix>/runs/<namespace>/<run>: every artifact of the run is under it."""
    prefix = spec.storage.prefix.strip("/")
    parts = [spec.storage.bucket, *([prefix] if prefix else []), "runs", namespace, run]
    return "s3://" + "/".join(parts)


def artifact(spec: api.ThymeRunSpec, namespace: str, run: str, stage: str) -> str:
    """Where a stage's output lives (the status reports it)."""
    root = run_root(spec, namespace, run)
    return {"convert": f"{root}/data", "sft": f"{root}/sft/final", "rl": f"{root}/rl/final", "eval": f"{root}/eval"}[stage]


def manifest_key(stage: str) -> str:
    """The stage's commit point, relative to the run root."""
    return {"convert": "data/manifest.json", "sft": "sft/manifest.json", "rl": "rl/manifest.json",
            "eval": "eval/manifest.json"}[stage]


def probe_config(spec: api.ThymeRunSpec, namespace: str, run: str) -> dict[str, Any]:
    """What the manifest probe checks: index i of its Indexed Job looks for manifests[i],
    the commit point of the run's i-th stage (`thyme manifest-probe`)."""
    return {"run_root": run_root(spec, namespace, run), "manifests": [manifest_key(s) for s in spec.stage_names()]}


def service_url(run: str, namespace: str, part: str, port: int, stage: str = "rl") -> str:
    return f"http://{names.stage_part(run, stage, part)}.{namespace}.svc:{port}"


def convert_config(spec: api.ThymeRunSpec, namespace: str, run: str) -> dict[str, Any]:
    stage = spec.stages.convert
    assert stage is not None
    config: dict[str, Any] = {
        "source": spec.dataset.source if spec.dataset else None, "run_root": run_root(spec, namespace, run),
        "splits": list(spec.dataset.splits) if spec.dataset else [], "num_shards": stage.shards,
        "workers": stage.workers}
    if spec.rl_dataset is not None:
        config["rl_source"] = {"source": spec.rl_dataset.source, "layout": spec.rl_dataset.layout,
                               **({"files": list(spec.rl_dataset.files)} if spec.rl_dataset.files else {})}
    return config


def sft_config(spec: api.ThymeRunSpec, namespace: str, run: str) -> dict[str, Any]:
    stage = spec.stages.sft
    assert stage is not None
    return {
        "run_root": run_root(spec, namespace, run),
        "model": spec.model.base,
        "phases": [{"splits": list(p.splits), "learning_rate": p.learning_rate, "epochs": p.epochs} for p in stage.phases],
        "max_length": stage.max_length,
        "max_pixels": stage.max_pixels,
        "per_device_batch_size": stage.per_device_batch_size,
        "gradient_accumulation_steps": stage.gradient_accumulation_steps,
        "save_steps": stage.save_steps,
        "freeze_vision": stage.freeze_vision,
        "deepspeed": None if stage.deepspeed == "none" else stage.deepspeed,
        "gradient_checkpointing": stage.gradient_checkpointing,
        "train_rounds": stage.train_rounds,
        "seed": stage.seed,
        "warmup_ratio": stage.warmup_ratio,
        "lr_scheduler": stage.lr_scheduler,
        "max_steps": stage.max_steps,
        **_system_prompt(stage),
    }


def _system_prompt(stage: api.SFTStage | api.RLStage) -> dict[str, Any]:
    """Unset: the program's built-in prompt (nothing sent); empty: no system turn; a URI:
    the program reads the prompt from the store when it starts."""
    if stage.system_prompt_uri is not None:
        return {"system_prompt_uri": stage.system_prompt_uri}
    if stage.system_prompt is not None:
        return {"system_prompt": stage.system_prompt or None}
    return {}


def rl_config(spec: api.ThymeRunSpec, namespace: str, run: str) -> dict[str, Any]:
    """RL starts from SFT's final model when the run has an SFT stage, else from the base.

    Its prompts are spec.rlDataset's converted splits when the run names one, else rl.splits
    of the SFT dataset. The deepeyes recipe gets no sandbox URL: its tool runs in the trainer.
    """
    stage = spec.stages.rl
    assert stage is not None
    root = run_root(spec, namespace, run)
    judge = stage.judge
    judge_endpoint = None if judge is None else (judge.endpoint or service_url(run, namespace, "judge", JUDGE_PORT) + "/v1")
    return {
        "run_root": root,
        "model": artifact(spec, namespace, run, "sft") if spec.stages.sft is not None else spec.model.base,
        "splits": list(stage.splits) if stage.splits else spec.rl_dataset.split_names() if spec.rl_dataset else [],
        "recipe": stage.recipe,
        "num_generations": stage.num_generations,
        "max_rounds": stage.max_rounds,
        "max_images": stage.max_images,
        "text_temperature": stage.text_temperature,
        "code_temperature": stage.code_temperature,
        "top_p": stage.top_p,
        "top_k": stage.top_k,
        "engine": stage.engine,
        "freeze_vision": stage.freeze_vision,
        "seed": stage.seed,
        **_system_prompt(stage),
        "rewards": {"format": stage.rewards.format, "accuracy": stage.rewards.accuracy,
                    "consistency": stage.rewards.consistency},
        "judge": ({"endpoint": None} if judge is None else
                  {"endpoint": judge_endpoint, "model": judge.model_name, "timeout_seconds": judge.timeout_seconds,
                   "max_retries": judge.max_retries, "backoff_seconds": judge.backoff_seconds,
                   "max_outage_steps": judge.max_outage_steps}),
        "learning_rate": stage.learning_rate,
        "kl_beta": stage.kl_beta,
        "clip_epsilon": stage.clip_epsilon,
        "steps": stage.steps,
        "batch_size": stage.batch_size,
        "max_new_tokens": stage.max_new_tokens,
        "save_steps": stage.save_steps,
        "deepspeed": None if stage.deepspeed == "none" else stage.deepspeed,
        **_tools_config(spec, namespace, run),
    } | (
        {"sandbox_url": service_url(run, namespace, "sandbox", SANDBOX_PORT),
         "sandbox_timeout_seconds": stage.sandbox.timeout_seconds,
         # Every sandbox pod holds this many sessions at once; the trainer opens no more.
         "sandbox_max_sessions": stage.sandbox.replicas * sandbox_capacity.capacity(
             stage.sandbox.memory, stage.sandbox.cpu).workers}
        if stage.recipe == "thyme" else {"tool_bonus": stage.tool_bonus}
    )


def _tools_config(spec: api.ThymeRunSpec, namespace: str, run: str) -> dict[str, Any]:
    """recipe openthinkimg: the tools front's Service URL (spec.tools, see builders/tools.py)."""
    stage = spec.stages.rl
    if stage is None or stage.recipe == "thyme":
        return {}
    port = spec.tools.port if spec.tools else 0
    return {"recipe": stage.recipe, "tools_url": f"http://{names.tools_front(run)}.{namespace}.svc:{port}"}


def eval_config(spec: api.ThymeRunSpec, namespace: str, run: str) -> dict[str, Any]:
    """Eval scores `base` (spec.model.base) and whichever of sft/final and rl/final exist,
    unless the stage lists its checkpoints, with the run's configured system prompt; a TSV
    given as a key is under the run's prefix."""
    stage = spec.stages.eval
    assert stage is not None
    root = run_root(spec, namespace, run)
    prefix = "s3://" + "/".join([spec.storage.bucket, *([spec.storage.prefix.strip("/")] if spec.storage.prefix.strip("/") else [])])
    judge = stage.judge
    return {
        "run_root": root,
        "base_model": spec.model.base,
        "benchmarks": [{"name": b.name, "tsv": b.tsv if b.tsv.startswith("s3://") else f"{prefix}/{b.tsv.lstrip('/')}",
                        "limit": b.limit, "protocol": b.protocol} for b in stage.benchmarks],
        "checkpoints": list(stage.checkpoints) if stage.checkpoints is not None else None,
        "sandbox_url": service_url(run, namespace, "sandbox", SANDBOX_PORT, stage="eval"),
        "num_shards": stage.shards,
        "batch_size": stage.batch_size,
        "max_new_tokens": stage.max_new_tokens,
        "max_iterations": stage.max_iterations,
        "max_retry": stage.max_retry,
        "temperature": stage.temperature,
        "retry_temperature": stage.retry_temperature,
        "fallback": stage.fallback,
        # the prompt the checkpoints were trained with: RL's, else SFT's, else the built-in one
        **(_system_prompt(spec.stages.rl) if spec.stages.rl is not None else
           _system_prompt(spec.stages.sft) if spec.stages.sft is not None else {}),
        "judge": ({"endpoint": None} if judge is None else
                  {"endpoint": judge.endpoint, "model": judge.model_name, "on_failure": judge.on_failure}),
    }


def stage_config(spec: api.ThymeRunSpec, namespace: str, run: str, stage: str) -> dict[str, Any]:
    return {"convert": convert_config, "sft": sft_config, "rl": rl_config, "eval": eval_config}[stage](spec, namespace, run)
