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
