"""The eval config names bad fields; `thyme synth-bench` writes every format; `thyme eval` reports config errors."""

from __future__ import annotations

import json

import pytest

from thyme_cli import main as cli
from thyme_jobs.eval import config, scorers

BASE = {"run_root": "/tmp/run", "benchmarks": [{"name": "VStarBench", "tsv": "b/v.tsv"}], "sandbox_url": "http://sb:8080"}


def test_defaults_are_vlmevalkits_thyme_settings():
    cfg = config.parse_config(BASE)
    assert (cfg.max_new_tokens, cfg.temperature, cfg.top_p, cfg.top_k) == (2048, 0.01, 0.001, 1)
    assert (cfg.max_iterations, cfg.max_retry, cfg.retry_temperature, cfg.fallback) == (5, 5, 1.0, True)
    assert cfg.rollback == "replay" and cfg.judge.endpoint is None and cfg.judge.on_failure == "random"
    assert cfg.checkpoints is None and cfg.protocol == "thyme"


@pytest.mark.parametrize(("change", "message"), [
    ({"benchmarks": [{"name": "MMBench", "tsv": "x"}]}, "benchmark name 'MMBench' is not one of"),
    ({"sandbox_url": "sb:8080"}, "sandbox_url 'sb:8080' must start with http"),
    ({"shard_index": 2, "num_shards": 2}, "shard_index 2 must be below num_shards 2"),
    ({"checkpoints": ["base"]}, "checkpoints names 'base' but base_model is not set"),
    ({"benchmarks": [{"name": "VStarBench", "tsv": "a"}, {"name": "VStarBench", "tsv": "b"}]}, "lists a name twice"),
    ({"max_retry": 0}, "max_retry"),
    ({"temprature": 0.5}, "temprature"),
])
def test_bad_configs_are_refused_naming_the_field(change, message):
    with pytest.raises(config.ConfigError, match=message):
        config.parse_config({**BASE, **change})


def test_synth_bench_writes_each_format_with_broken_rows(tmp_path, capsys):
    assert cli.main(["synth-bench", str(tmp_path), "--items", "3", "--side", "64"]) == 0
    answers = json.loads((tmp_path / "answers.json").read_text())
    assert set(answers) == set(scorers.BENCHMARKS)
    for name, info in answers.items():
        assert (tmp_path / f"{name}.tsv").is_file() and len(info["answers"]) == 4 and len(info["broken"]) == 6
    assert "VStarBench.tsv: 4 items, 6 broken rows" in capsys.readouterr().out
    assert cli.main(["synth-bench", str(tmp_path), "--benchmarks", "Nope"]) == 2


def test_thyme_eval_reports_a_bad_config_and_exits_2(tmp_path, capsys):
    path = tmp_path / "eval.yaml"
    path.write_text("run_root: /tmp/run\nbenchmarks: []\nsandbox_url: http://sb\n")
    assert cli.main(["eval", "--config", str(path)]) == 2
    assert "benchmarks" in capsys.readouterr().err
