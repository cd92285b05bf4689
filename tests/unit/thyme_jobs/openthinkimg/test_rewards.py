"""V-ToolRL's rewards: accuracy from the Terminate answer (else the last reply), format as the
fraction of valid JSON rounds, and the recipe's config rules."""

import pytest

from thyme_jobs.agent.loop import Segment, Trajectory
from thyme_jobs.openthinkimg import rewards
from thyme_jobs.openthinkimg.prompts import SYSTEM_PROMPT
from thyme_jobs.rl.config import ConfigError, RewardWeights, parse_config

CROP = '{"thought": "zoom", "actions": [{"name": "Crop", "arguments": {"param": "[0, 0, 9, 9]"}}]}'
DONE = '{"thought": "so", "actions": [{"name": "Terminate", "arguments": {"ans": "45%"}}]}'


def trajectory(*replies: str, truth: str = "0.45") -> Trajectory:
    t = Trajectory("t", "p", "<image>\nQ", [], truth)
    for reply in replies:
        t.segments += [Segment(reply, True), Segment("<|im_end|>\n<|im_start|>user\nOBSERVATION: ...", False)]
    return t


def test_a_right_terminate_answer_scores_accuracy_and_format_by_their_weights():
    score = rewards.breakdown(trajectory(CROP, "not json", DONE), "45%", RewardWeights(format=0.5, accuracy=1.0))
    assert score.accuracy == 1.0 and score.format == pytest.approx(2 / 3)
    assert score.total == pytest.approx(1.0 + 0.5 * 2 / 3) and score.consistency == 0.0


def test_without_terminate_the_last_reply_is_the_answer_and_a_wrong_one_scores_zero():
    assert rewards.breakdown(trajectory(CROP, "0.45"), None, RewardWeights()).accuracy == 1.0
    wrong = rewards.breakdown(trajectory(CROP, DONE, truth="12"), "45%", RewardWeights(format=0.0))
    assert wrong.accuracy == 0.0 and wrong.total == 0.0


def test_the_recipe_needs_the_tools_front_and_gets_its_own_system_prompt():
    base = {"run_root": "/tmp/r", "splits": ["a"], "steps": 1}
    with pytest.raises(ConfigError, match="tools_url"):
        parse_config(base | {"recipe": "openthinkimg"})
    with pytest.raises(ConfigError, match="sandbox_url is required"):
        parse_config(base)
    cfg = parse_config(base | {"recipe": "openthinkimg", "tools_url": "http://tools:8080"})
    assert cfg.system_prompt == SYSTEM_PROMPT and cfg.sandbox_url is None
    assert parse_config(base | {"recipe": "openthinkimg", "tools_url": "http://t:1", "system_prompt": "mine"}).system_prompt == "mine"
