"""The rl config names bad fields; the command turns a bad config into a clear exit."""

from __future__ import annotations

import argparse
import json

import pytest

from thyme_jobs.rl import cli
from thyme_jobs.rl.config import ConfigError, load_config, parse_config

GOOD = {"run_root": "s3://b/runs/ns/r", "splits": ["single_round"], "sandbox_url": "http://sandbox:8080", "steps": 10}


def test_defaults_follow_the_recipe() -> None:
    cfg = parse_config(GOOD)
    assert (cfg.num_generations, cfg.text_temperature, cfg.code_temperature, cfg.max_images) == (4, 1.0, 0.0, 10)
    assert (cfg.rewards.format, cfg.rewards.accuracy, cfg.rewards.consistency) == (0.5, 1.0, 0.5)
    assert cfg.model == "sft/final" and cfg.judge.endpoint is None and cfg.save_steps == 10
    assert cfg.deepspeed == "zero3" and cfg.freeze_vision  # Thyme's RL: ZeRO-3, the ViT frozen
    assert (cfg.top_p, cfg.top_k, cfg.learning_rate, cfg.kl_beta, cfg.batch_size) == (0.9, 50, 5e-7, 0.01, 64)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"run_root": None}, "run_root"),
        ({"num_generations": 1}, "num_generations"),
        ({"splits": []}, "splits"),
        ({"rewards": {"format": -1}}, "rewards.format"),
        ({"judge": {"timeout_seconds": 0}}, "judge.timeout_seconds"),
        ({"judge": {"endpoint": "judge:8000"}}, "judge.endpoint"),
        ({"sandbox_url": "sandbox:8080"}, "sandbox_url"),
        ({"clip_epsilon": 1.5}, "clip_epsilon"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"stesp": 3}, "stesp"),
        ({"deepspeed": "zero1"}, "deepspeed"),
    ],
)
def test_errors_name_the_field(change: dict, field: str) -> None:
    data = {k: v for k, v in (GOOD | change).items() if v is not None}
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_config(data)


def test_config_from_the_environment_or_a_file(tmp_path) -> None:
    assert load_config(None, {"THYME_STAGE_CONFIG": json.dumps(GOOD)}).steps == 10
    path = tmp_path / "rl.yaml"
    path.write_text("run_root: /tmp/run\nsplits: [a]\nsandbox_url: http://s:1\nsteps: 2\njudge:\n  endpoint: http://j:8000/v1\n")
    assert load_config(str(path), {}).judge.endpoint == "http://j:8000/v1"
    with pytest.raises(ConfigError, match="THYME_STAGE_CONFIG"):
        load_config(None, {})
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(None, {"THYME_STAGE_CONFIG": "{oops"})


def test_the_command_reports_a_bad_config_and_exits_2(tmp_path, capsys) -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    path = tmp_path / "rl.json"
    path.write_text(json.dumps(GOOD | {"num_generations": 0}))
    args = parser.parse_args(["rl", "--config", str(path)])
    assert args.func(args) == 2
    assert "num_generations" in capsys.readouterr().err
