"""The DeepSpeed config for a ZeRO stage, as a plain dict that transformers hands to DeepSpeed.

Batch sizes, learning rate, clipping and precision are "auto": the transformers Trainer
fills them from its own arguments, so the two can never disagree (a mismatch between
`train_batch_size` and micro-batch x accumulation x world size is DeepSpeed's most common
start-up error). What stays here is what only DeepSpeed knows: partitioning and
communication. ZeRO-2 is the reference's choice for a 7B model on 80 GB GPUs; ZeRO-3 also
shards the parameters, for bigger models or smaller GPUs, and gathers a 16-bit copy
of the weights when the final model is saved.

The RL stage drives DeepSpeed itself, without a Trainer to fill the "auto" values;
`resolved_config` fills them by the Trainer's own rules, so both stages run the same
partitioning settings.
"""

from __future__ import annotations

from typing import Any

STAGES = {"zero2": 2, "zero3": 3}


def deepspeed_config(stage: str, *, bf16: bool = True) -> dict[str, Any]:
    """A DeepSpeed config dict for `stage` ("zero2" or "zero3").

    >>> cfg = deepspeed_config("zero2")
    >>> cfg["zero_optimization"]["stage"], cfg["bf16"]["enabled"], cfg["train_micro_batch_size_per_gpu"]
    (2, 'auto', 'auto')
    """
    if stage not in STAGES:
        raise ValueError(f"deepspeed must be one of {sorted(STAGES)}, got {stage!r}")
    zero: dict[str, Any] = {
        "stage": STAGES[stage],
        # overlapping the reduce with the backward pass hides most of the gradient traffic
        "overlap_comm": True,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",  # the Trainer sizes it from the model's hidden size
    }
    if stage == "zero2":
        # 500M-element all-gather buckets: large enough to keep the links busy, and the
        # usual setting for 7B models on 80 GB GPUs
        zero.update({"allgather_partitions": True, "allgather_bucket_size": 500_000_000,
                     "reduce_scatter": True})
    else:
        zero.update({
            "stage3_prefetch_bucket_size": "auto",
            "stage3_param_persistence_threshold": "auto",
            "stage3_max_live_parameters": 1_000_000_000,
            "stage3_max_reuse_distance": 1_000_000_000,
            # without this the saved model is a set of shards that only DeepSpeed can read;
            # the RL stage loads sft/final with plain transformers
            "stage3_gather_16bit_weights_on_model_save": True,
        })
    return {
        "bf16": {"enabled": "auto" if bf16 else False},
        "fp16": {"enabled": False},
        "zero_optimization": zero,
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "steps_per_print": 1_000_000,  # the Trainer logs; DeepSpeed's own lines are noise
        "wall_clock_breakdown": False,
    }


def resolved_config(stage: str, *, bf16: bool, micro_batch_size: int, gradient_accumulation_steps: int,
                    world_size: int, max_grad_norm: float, hidden_size: int) -> dict[str, Any]:
    """`deepspeed_config(stage)` with every "auto" replaced, for a program without a Trainer.

    The batch sizes multiply out as DeepSpeed checks them (train = micro x accumulation x
    world); the bucket sizes follow the transformers integration's rules (reduce bucket
    hidden^2, ZeRO-3 prefetch 0.9 hidden^2 and persistence threshold 10 hidden).

    >>> cfg = resolved_config("zero2", bf16=False, micro_batch_size=1, gradient_accumulation_steps=4,
    ...                       world_size=2, max_grad_norm=1.0, hidden_size=64)
    >>> cfg["train_batch_size"], cfg["zero_optimization"]["reduce_bucket_size"], cfg["bf16"]["enabled"]
    (8, 4096, False)
    """
    cfg = deepspeed_config(stage, bf16=bf16)
    cfg.update(
        bf16={"enabled": bf16},
        train_micro_batch_size_per_gpu=micro_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        train_batch_size=micro_batch_size * gradient_accumulation_steps * world_size,
        gradient_clipping=max_grad_norm,
    )
    zero = cfg["zero_optimization"]
    zero["reduce_bucket_size"] = hidden_size * hidden_size
    if zero["stage"] == 3:
        zero["stage3_prefetch_bucket_size"] = int(0.9 * hidden_size * hidden_size)
        zero["stage3_param_persistence_threshold"] = 10 * hidden_size
    left = [key for key, value in _leaves(cfg) if value == "auto"]
    if left:  # a key added to deepspeed_config without a rule here
        raise AssertionError(f"resolved_config left {left} as 'auto'")
    return cfg


def _leaves(cfg: dict[str, Any], prefix: str = ""):
    for key, value in cfg.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def require_deepspeed(stage: str) -> None:
    """Fail early, naming the fix, when a ZeRO stage is asked for but DeepSpeed is absent."""
    try:
        import deepspeed  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(
            f"deepspeed={stage!r} needs the DeepSpeed package, which is not importable here ({exc}); "
            "install the gpu extra (pip install 'thyme-k8s[gpu]', as in the trainer image; the dev extra "
            "has it too) or set deepspeed: null to train without it") from None
