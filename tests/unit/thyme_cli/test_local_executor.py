"""The local executor's pure parts: where s3:// URIs land locally, and how a bad
manifest is reported."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from thyme_cli import local_executor

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "quickstart.yaml"


def test_s3_uris_map_into_the_local_store_everywhere_in_a_config(tmp_path):
    uris = local_executor.UriMap(tmp_path)
    config = {"run_root": "s3://thyme/q/runs/local/r", "phases": [{"splits": ["a"]}],
              "judge": {"endpoint": "http://judge:8000/v1"}, "model": "s3://thyme/models/m", "steps": 3}
    mapped = uris(config)
    assert mapped["run_root"] == str(tmp_path / "thyme/q/runs/local/r")
    assert mapped["model"] == str(tmp_path / "thyme/models/m")
    assert mapped["judge"]["endpoint"] == "http://judge:8000/v1" and mapped["steps"] == 3


def test_with_store_s3_uris_are_left_alone():
    assert local_executor.UriMap(None)({"m": "s3://b/k"}) == {"m": "s3://b/k"}


def test_the_quickstart_example_is_a_valid_thymerun():
    run = local_executor.load_run(EXAMPLE)
    assert run.metadata["name"] == "quickstart"
    assert run.spec.stage_names() == ["convert", "sft", "rl", "eval"]


def test_an_invalid_manifest_is_rejected_naming_the_field(tmp_path):
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["spec"]["stages"]["rl"]["numGenerations"] = 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(local_executor.LocalRunError, match=r"spec\.stages\.rl\.numGenerations|num_generations"):
        local_executor.load_run(bad)


def test_a_file_that_is_not_a_thymerun_is_rejected(tmp_path):
    other = tmp_path / "job.yaml"
    other.write_text("kind: Job\napiVersion: batch/v1\n")
    with pytest.raises(local_executor.LocalRunError, match="expected a ThymeRun"):
        local_executor.load_run(other)
