"""The configs the operator hands to stage programs are accepted by those programs."""

from __future__ import annotations

from thyme_jobs.convert.config import ConvertConfig
from thyme_jobs.rl.config import RLConfig
from thyme_jobs.sft.config import SFTConfig
from thyme_operator import stage_configs

from .fixtures import spec


def test_run_root_is_bucket_prefix_runs_namespace_name():
    assert stage_configs.run_root(spec(), "ml", "demo") == "s3://thyme/thyme/runs/ml/demo"
    assert stage_configs.run_root(spec(storage__prefix=""), "ml", "demo") == "s3://thyme/runs/ml/demo"


def test_convert_config_is_valid_for_the_convert_program():
    ConvertConfig.model_validate(stage_configs.convert_config(spec(), "ml", "demo"))


def test_sft_config_is_valid_for_the_sft_program_and_maps_deepspeed_none_to_null():
    config = stage_configs.sft_config(spec(stages__sft__deepspeed="none"), "ml", "demo")
    assert config["deepspeed"] is None
    parsed = SFTConfig.model_validate(config)
    assert [p.splits for p in parsed.phases] == [["general"], ["math"]]


def test_rl_config_is_valid_for_the_rl_program():
    parsed = RLConfig.model_validate(stage_configs.rl_config(spec(), "ml", "demo"))
    assert parsed.splits == ["math"] and parsed.steps == 10


def test_rl_deepspeed_none_maps_to_null_and_a_stage_passes_through():
    assert stage_configs.rl_config(spec(stages__rl__deepspeed="none"), "ml", "demo")["deepspeed"] is None
    parsed = RLConfig.model_validate(stage_configs.rl_config(spec(stages__rl__deepspeed="zero2"), "ml", "demo"))
    assert parsed.deepspeed == "zero2"


def test_rl_without_sft_starts_from_the_base_model():
    config = stage_configs.rl_config(spec(stages__sft=None), "ml", "demo")
    assert config["model"] == "s3://models/Qwen2.5-VL-7B-Instruct"


EVAL = {"benchmarks": [{"name": "VStarBench", "tsv": "benchmarks/VStarBench.tsv"},
                       {"name": "HRBench4K", "tsv": "s3://bench/hr_bench_4k.tsv", "limit": 40}], "shards": 4}


def test_eval_config_is_valid_for_the_eval_program_with_vlmevalkit_defaults():
    from thyme_jobs.eval.config import EvalConfig

    config = stage_configs.eval_config(spec(stages__eval=EVAL), "ml", "demo")
    parsed = EvalConfig.model_validate(config)
    assert [(b.name, b.tsv, b.limit) for b in parsed.benchmarks] == [
        ("VStarBench", "s3://thyme/thyme/benchmarks/VStarBench.tsv", None),  # a key is under the storage prefix
        ("HRBench4K", "s3://bench/hr_bench_4k.tsv", 40)]
    assert parsed.checkpoints is None and parsed.base_model == "s3://models/Qwen2.5-VL-7B-Instruct"
    assert parsed.sandbox_url == "http://demo-eval-sandbox.ml.svc:8080" and parsed.num_shards == 4
    assert (parsed.max_iterations, parsed.max_retry, parsed.temperature, parsed.retry_temperature,
            parsed.max_new_tokens, parsed.fallback) == (5, 5, 0.01, 1.0, 2048, True)
    assert parsed.judge.endpoint is None
    assert stage_configs.manifest_key("eval") == "eval/manifest.json"
    assert stage_configs.artifact(spec(stages__eval=EVAL), "ml", "demo", "eval") == "s3://thyme/thyme/runs/ml/demo/eval"


def test_eval_judge_and_checkpoints_pass_through():
    from thyme_jobs.eval.config import EvalConfig

    stage = {**EVAL, "checkpoints": ["rl/final", "s3://models/other"],
             "judge": {"endpoint": "http://judge:8000/v1", "modelName": "qwen72b", "onFailure": "wrong"}}
    parsed = EvalConfig.model_validate(stage_configs.eval_config(spec(stages__eval=stage), "ml", "demo"))
    assert parsed.checkpoints == ["rl/final", "s3://models/other"]
    assert (parsed.judge.endpoint, parsed.judge.model, parsed.judge.on_failure) == ("http://judge:8000/v1", "qwen72b", "wrong")
