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


EVAL = {"benchmarks": [{"name": "VStarBench", "tsv": "benchmarks/VStarBench.tsv", "protocol": "deepeyes"},
                       {"name": "HRBench4K", "tsv": "s3://bench/hr_bench_4k.tsv", "limit": 40}], "shards": 4}


def test_eval_config_is_valid_for_the_eval_program_with_vlmevalkit_defaults():
    from thyme_jobs.eval.config import EvalConfig

    config = stage_configs.eval_config(spec(stages__eval=EVAL), "ml", "demo")
    parsed = EvalConfig.model_validate(config)
    assert [(b.name, b.tsv, b.limit, b.protocol) for b in parsed.benchmarks] == [
        ("VStarBench", "s3://thyme/thyme/benchmarks/VStarBench.tsv", None, "deepeyes"),  # a key is under the storage prefix
        ("HRBench4K", "s3://bench/hr_bench_4k.tsv", 40, "thyme")]
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


# Fields whose value is the run's own, not a default: where it runs, what it reads.
# sandbox_max_sessions: what the run's sandbox pods hold (replicas x workers), unbounded in a bare `thyme rl`
RUN_SPECIFIC = {"run_root", "model", "splits", "sandbox_url", "endpoint", "steps", "sandbox_max_sessions"}


def _agree(config: dict, model, path: str = "") -> list[str]:
    """Fields where the config the operator sends differs from the program's default."""
    from pydantic import BaseModel

    wrong = []
    for key, value in config.items():
        field = model.model_fields[key]
        if key in RUN_SPECIFIC or field.is_required():
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            wrong += _agree(value, type(default), f"{path}{key}.")
        elif value != default:
            wrong.append(f"{path}{key}: ThymeRun default {value!r}, stage config default {default!r}")
    return wrong


def _minimal_spec():
    """A ThymeRun that sets only what has no default, so every other value is a default."""
    from thyme_operator import api

    return api.ThymeRunSpec.model_validate({
        "storage": {"endpoint": "minio:9000", "bucket": "thyme", "secretRef": {"name": "s3"}},
        "dataset": {"source": "s3://datasets/d", "splits": ["a"]},
        "model": {"base": "s3://models/m"},
        "stages": {"sft": {"phases": [{"splits": ["a"]}]}, "rl": {"splits": ["a"], "judge": {"endpoint": "http://j/v1"}}},
    })


def test_a_thymerun_left_at_its_defaults_configures_the_stages_with_the_programs_own_defaults():
    spec = _minimal_spec()
    sft = stage_configs.sft_config(spec, "ml", "demo")
    wrong = _agree({k: v for k, v in sft.items() if k != "phases"}, SFTConfig)
    wrong += _agree({k: v for k, v in sft["phases"][0].items() if k != "splits"}, SFTConfig.model_fields["phases"]
                    .annotation.__args__[0], "phases[0].")
    wrong += _agree(stage_configs.rl_config(spec, "ml", "demo"), RLConfig)
    assert not wrong, "\n".join(wrong)


def test_the_crd_shows_the_recipe_the_stage_programs_use():
    from thyme_operator import crd, recipe

    stages = crd.generate()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "stages"]["properties"]
    rl, sft = stages["rl"]["properties"], stages["sft"]["properties"]
    assert rl["numGenerations"]["default"] == recipe.RL_NUM_GENERATIONS == RLConfig.model_fields["num_generations"].default
    assert rl["klBeta"]["default"] == recipe.RL_KL_BETA == RLConfig.model_fields["kl_beta"].default
    assert rl["learningRate"]["default"] == RLConfig.model_fields["learning_rate"].default
    assert rl["rewards"]["default"] == {"format": 0.5, "accuracy": 1.0, "consistency": 0.5}
    assert rl["deepspeed"]["default"] == RLConfig.model_fields["deepspeed"].default == "zero3"
    assert sft["maxLength"]["default"] == SFTConfig.model_fields["max_length"].default == 10240
    assert sft["deepspeed"]["default"] == SFTConfig.model_fields["deepspeed"].default == "zero2"


def test_the_new_knobs_reach_the_programs():
    spec = _minimal_spec().model_copy(deep=True)
    rl, sft = spec.stages.rl, spec.stages.sft
    rl.engine, rl.top_p, rl.top_k, rl.freeze_vision, rl.seed, rl.max_images = "transformers", 0.8, 20, False, 7, 4
    rl.judge.max_retries, rl.judge.max_outage_steps = 5, 9
    sft.warmup_ratio, sft.lr_scheduler, sft.max_steps, sft.system_prompt = 0.1, "linear", 30, ""
    rl.system_prompt_uri = "s3://thyme/prompts/thyme.txt"
    r = RLConfig.model_validate(stage_configs.rl_config(spec, "ml", "demo"))
    assert (r.engine, r.top_p, r.top_k, r.freeze_vision, r.seed, r.max_images) == ("transformers", 0.8, 20, False, 7, 4)
    assert (r.judge.max_retries, r.judge.max_outage_steps, r.system_prompt_uri) == (5, 9, "s3://thyme/prompts/thyme.txt")
    s = SFTConfig.model_validate(stage_configs.sft_config(spec, "ml", "demo"))
    assert (s.warmup_ratio, s.lr_scheduler, s.max_steps, s.system_prompt) == (0.1, "linear", 30, None)


def test_the_algorithm_is_named_for_what_it_does_and_the_papers_name_still_parses():
    from thyme_operator import api

    base = {"splits": ["a"]}
    assert api.RLStage.model_validate(base).algorithm == "grpo-code-temperature"
    assert api.RLStage.model_validate({**base, "algorithm": "grpo-ats"}).algorithm == "grpo-ats"
    description = api.RLStage.model_fields["algorithm"].description
    assert "codeTemperature" in description and "textTemperature" in description


DEEPEYES = {"stages__rl__splits": None, "stages__rl__recipe": "deepeyes", "stages__sft": None,
            "rlDataset": {"source": "s3://datasets/DeepEyes-Datasets-47k", "layout": "deepeyes"}}


def test_an_rl_dataset_is_converted_beside_the_sft_dump_and_read_by_rl():
    convert = ConvertConfig.model_validate(stage_configs.convert_config(spec(**DEEPEYES), "ml", "demo"))
    assert convert.source == "s3://datasets/Thyme-SFT"
    assert convert.rl_source.layout == "deepeyes" and convert.rl_source.files == ["vstar", "thinklite"]
    rl = RLConfig.model_validate(stage_configs.rl_config(spec(**DEEPEYES), "ml", "demo"))
    assert rl.splits == ["deepeyes_vstar", "deepeyes_thinklite"] and rl.recipe == "deepeyes"


def test_the_chart_file_is_converted_only_when_named():
    config = stage_configs.convert_config(spec(**DEEPEYES, rlDataset__files=["chart", "vstar"]), "ml", "demo")
    assert ConvertConfig.model_validate(config).rl_source.splits() == ["deepeyes_chart", "deepeyes_vstar"]


def test_a_run_with_only_an_rl_dataset_converts_no_sft_dump():
    config = stage_configs.convert_config(spec(**DEEPEYES, dataset=None), "ml", "demo")
    assert ConvertConfig.model_validate(config).source is None


def test_the_deepeyes_recipe_gets_no_sandbox_and_its_tool_bonus():
    config = stage_configs.rl_config(spec(**DEEPEYES, stages__rl__toolBonus="always"), "ml", "demo")
    assert "sandbox_url" not in config and config["tool_bonus"] == "always"
    assert RLConfig.model_validate(config).tool_bonus == "always"
    thyme = stage_configs.rl_config(spec(), "ml", "demo")
    assert thyme["recipe"] == "thyme" and thyme["sandbox_url"].startswith("http://demo-rl-sandbox.")


def test_eval_uses_the_system_prompt_the_run_trained_with():
    from thyme_jobs.eval.config import EvalConfig

    with_uri = spec(stages__eval=EVAL, stages__rl__systemPromptUri="s3://thyme/prompts/thyme.txt")
    assert EvalConfig.model_validate(stage_configs.eval_config(with_uri, "ml", "demo")).system_prompt_uri == \
        "s3://thyme/prompts/thyme.txt"
    sft_only = spec(stages__eval=EVAL, stages__rl=None, stages__sft__systemPrompt="Be brief.")
    assert EvalConfig.model_validate(stage_configs.eval_config(sft_only, "ml", "demo")).system_prompt == "Be brief."


def test_an_eval_stage_left_at_its_defaults_configures_the_program_with_its_own_defaults():
    from thyme_jobs.eval.config import EvalConfig

    minimal = _minimal_spec().model_copy(deep=True)
    minimal.stages.eval = api_eval(EVAL)
    config = {k: v for k, v in stage_configs.eval_config(minimal, "ml", "demo").items() if k not in ("base_model", "num_shards")}
    assert not _agree(config, EvalConfig)
    assert stage_configs.eval_config(minimal, "ml", "demo")["num_shards"] == 4


def api_eval(stage: dict):
    from thyme_operator import api

    return api.EvalStage.model_validate(stage)
