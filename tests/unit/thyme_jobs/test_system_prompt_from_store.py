"""A stage's system prompt can come from an object in the store (how a run uses
Thyme's own scripts/prompt.txt, byte for byte)."""

from __future__ import annotations

import json

import pytest

from thyme_jobs.rl import config as rl_config
from thyme_jobs.sft import config as sft_config
from thyme_jobs.stage_config import ConfigError

PROMPT = "You are a helpful assistant.\n\nSolve the following problem step by step...\n"


@pytest.fixture
def prompt_uri(tmp_path) -> str:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "thyme.txt").write_text(PROMPT)
    return str(tmp_path / "prompts" / "thyme.txt")


def test_sft_and_rl_read_the_prompt_from_the_store_exactly(prompt_uri):
    sft = {"run_root": "/tmp/r", "model": "/tmp/m", "phases": [{"splits": ["a"]}], "system_prompt_uri": prompt_uri}
    assert sft_config.load_config(env={"THYME_STAGE_CONFIG": json.dumps(sft)}).system_prompt == PROMPT
    rl = {"run_root": "/tmp/r", "splits": ["a"], "sandbox_url": "http://s:8080", "steps": 1, "system_prompt_uri": prompt_uri}
    assert rl_config.load_config(None, {"THYME_STAGE_CONFIG": json.dumps(rl)}).system_prompt == PROMPT


def test_a_missing_prompt_object_is_an_error_naming_the_uri(tmp_path):
    missing = str(tmp_path / "prompts" / "nope.txt")
    (tmp_path / "prompts").mkdir()
    rl = {"run_root": "/tmp/r", "splits": ["a"], "sandbox_url": "http://s:8080", "steps": 1, "system_prompt_uri": missing}
    with pytest.raises(ConfigError, match="nope.txt"):
        rl_config.load_config(None, {"THYME_STAGE_CONFIG": json.dumps(rl)})


def test_a_prompt_and_a_prompt_uri_together_are_refused(prompt_uri):
    sft = {"run_root": "/tmp/r", "model": "/tmp/m", "phases": [{"splits": ["a"]}], "system_prompt_uri": prompt_uri,
           "system_prompt": "other"}
    with pytest.raises(ConfigError, match="not both"):
        sft_config.load_config(env={"THYME_STAGE_CONFIG": json.dumps(sft)})
