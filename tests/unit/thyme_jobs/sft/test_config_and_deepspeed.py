"""The SFT config's validation and the generated DeepSpeed configs, checked as data."""

from __future__ import annotations

import json
import sys

import pytest

from thyme_jobs.modelio import deepspeed_config
from thyme_jobs.sft import config

BASE = {"run_root": "/tmp/run", "model": "/tmp/model", "phases": [{"splits": ["2round"], "learning_rate": 1e-5}]}


def test_defaults_follow_the_reference_recipe():
    cfg = config.SFTConfig.model_validate(BASE)
    assert (cfg.max_length, cfg.max_pixels, cfg.gradient_accumulation_steps) == (10240, 3_211_264, 16)
    assert cfg.freeze_vision and cfg.train_rounds == "last" and cfg.deepspeed == "zero2" and cfg.max_steps is None
    assert (cfg.phases[0].epochs, cfg.warmup_ratio, cfg.seed) == (3, 0.05, 42)


@pytest.mark.parametrize("patch, field", [
    ({"phases": [{"splits": ["a"], "learning_rate": -1}]}, "phases.0.learning_rate"),
    ({"deepspeed": "zero4"}, "deepspeed"),
    ({"train_rounds": "first"}, "train_rounds"),
    ({"save_step": 10}, "save_step"),
    ({"max_pixels": 10}, "max_pixels"),
])
def test_errors_name_the_field(tmp_path, patch, field):
    path = tmp_path / "sft.json"
    path.write_text(json.dumps({**BASE, **patch}))
    with pytest.raises(ValueError, match=rf"{field}: "):
        config.load_config(path)


def test_bad_combinations_say_what_to_do():
    with pytest.raises(ValueError, match="min_pixels .* exceeds max_pixels"):
        config.SFTConfig.model_validate({**BASE, "min_pixels": 10_000, "max_pixels": 5_000})
    with pytest.raises(ValueError, match="lists a split twice"):
        config.SFTConfig.model_validate({**BASE, "phases": [{"splits": ["a", "a"], "learning_rate": 1e-5}]})
    with pytest.raises(ValueError, match="precision='fp32'"):
        config.SFTConfig.model_validate({**BASE, "deepspeed": "zero3", "precision": "fp32"})


def test_config_from_the_environment_and_yaml(tmp_path):
    cfg = config.load_config(env={"THYME_STAGE_CONFIG": json.dumps({**BASE, "max_steps": 3})})
    assert cfg.max_steps == 3
    path = tmp_path / "sft.yaml"
    path.write_text("run_root: /r\nmodel: /m\nphases:\n  - {splits: [computation], learning_rate: 1.0e-6}\n")
    assert config.load_config(path).phases[0].learning_rate == 1e-6
    with pytest.raises(ValueError, match="THYME_STAGE_CONFIG"):
        config.load_config(env={})


@pytest.mark.parametrize("stage, n", [("zero2", 2), ("zero3", 3)])
def test_deepspeed_config_leaves_batch_and_precision_to_the_trainer(stage, n):
    cfg = deepspeed_config.deepspeed_config(stage)
    json.dumps(cfg)  # plain data, what TrainingArguments(deepspeed=...) accepts
    assert cfg["zero_optimization"]["stage"] == n
    for key in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps",
                "gradient_clipping"):
        assert cfg[key] == "auto", key
    assert cfg["bf16"]["enabled"] == "auto" and cfg["fp16"]["enabled"] is False
    # ZeRO-3 must gather full weights on save, or sft/final would be DeepSpeed shards RL cannot load
    assert cfg["zero_optimization"].get("stage3_gather_16bit_weights_on_model_save", False) is (n == 3)


def test_deepspeed_config_rejects_unknown_stage():
    with pytest.raises(ValueError, match="zero2"):
        deepspeed_config.deepspeed_config("zero1")


def test_asking_for_deepspeed_without_it_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepspeed", None)  # import deepspeed -> ImportError, installed or not
    with pytest.raises(RuntimeError, match="deepspeed='zero2' needs the DeepSpeed package.*gpu extra"):
        deepspeed_config.require_deepspeed("zero2")


@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_resolved_config_fills_every_auto_for_a_program_without_a_trainer(stage):
    cfg = deepspeed_config.resolved_config(stage, bf16=True, micro_batch_size=1, gradient_accumulation_steps=6,
                                           world_size=4, max_grad_norm=0.5, hidden_size=3584)
    assert "auto" not in json.dumps(cfg)
    # DeepSpeed refuses to start unless these multiply out
    assert cfg["train_batch_size"] == cfg["train_micro_batch_size_per_gpu"] * cfg["gradient_accumulation_steps"] * 4
    assert cfg["gradient_clipping"] == 0.5 and cfg["bf16"]["enabled"] is True
    zero = cfg["zero_optimization"]
    assert zero["reduce_bucket_size"] == 3584 * 3584
    if stage == "zero3":
        assert zero["stage3_prefetch_bucket_size"] == int(0.9 * 3584 * 3584)
        assert zero["stage3_param_persistence_threshold"] == 35840
