"""Config: file, THYME_STAGE_CONFIG and the Indexed Job's completion index."""

from __future__ import annotations

import json

import pytest

from thyme_jobs.convert.config import ConfigError, load_config

BASE = {"source": "s3://b/dump", "run_root": "s3://b/runs/ns/r"}


def test_pod_config_comes_from_env_and_shard_from_completion_index() -> None:
    env = {"THYME_STAGE_CONFIG": json.dumps({**BASE, "num_shards": 4}), "JOB_COMPLETION_INDEX": "3"}
    cfg = load_config(None, {}, env)
    assert (cfg.shard, cfg.num_shards, cfg.run_root) == (3, 4, "s3://b/runs/ns/r")


def test_explicit_shard_wins_over_completion_index() -> None:
    env = {"THYME_STAGE_CONFIG": json.dumps({**BASE, "num_shards": 4}), "JOB_COMPLETION_INDEX": "3"}
    assert load_config(None, {"shard": 1}, env).shard == 1


def test_yaml_file_and_cli_overrides(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("source: /d\nrun_root: /r\nsplits: [2round]\nworkers: 3\n")
    cfg = load_config(str(path), {"workers": 1, "splits": None}, {})
    assert (cfg.splits, cfg.workers) == (["2round"], 1)


@pytest.mark.parametrize(("data", "field"), [
    ({**BASE, "shard": 2, "num_shards": 2}, "must be below num_shards"),
    ({**BASE, "num_shards": 0}, "num_shards"),
    ({"source": "/d"}, "run_root"),
    ({**BASE, "shards": 3}, "shards"),
])
def test_bad_config_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        load_config(None, data, {})


def test_operator_config_with_no_splits_means_every_split() -> None:
    env = {"THYME_STAGE_CONFIG": json.dumps({**BASE, "splits": [], "num_shards": 2, "workers": None})}
    assert load_config(None, {}, env).splits is None
