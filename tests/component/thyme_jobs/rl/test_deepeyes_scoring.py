"""DeepEyes' rewards against a real HTTP judge: rules first, the judge with DeepEyes' prompts, loud outages."""

from __future__ import annotations

import asyncio

import pytest

from thyme_jobs.deepeyes.scoring import DeepEyesRequest, score_batch
from thyme_jobs.rl.judge import JudgeClient, JudgeUnavailable

CALL = '<tool_call>{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [1, 2, 40, 50]}}</tool_call>'


def visual(answer: str, tool: bool = True, bad_calls: int = 0) -> DeepEyesRequest:
    completion = "<think>zoom</think>" + (CALL if tool else "") + f"<think>seen</think><answer>{answer}</answer>"
    return DeepEyesRequest("What colour is the square?", completion, "red", "visual", bad_calls)


def score(requests, endpoint: str | None, **kwargs):
    async def go():
        if endpoint is None:
            return await score_batch(requests, None, **kwargs)
        async with JudgeClient(endpoint, "judge", timeout_seconds=2, max_retries=1, backoff_seconds=0.01) as judge:
            return await score_batch(requests, judge, **kwargs)
    return asyncio.run(go())


def test_visual_rows_are_scored_by_rule_then_judge_with_deepeyes_prompt(judge) -> None:
    out = score([visual("red"), visual("it is red", tool=False), visual("blue"), visual("red", bad_calls=2)],
                judge.endpoint)
    assert [s.total for s in out] == [pytest.approx(2.0), pytest.approx(0.8), pytest.approx(0.0), pytest.approx(1.9)]
    assert [s.accuracy_source for s in out] == ["rule", "judge", "judge", "rule"]
    assert out[3].step_penalty == pytest.approx(-0.1) and out[0].tool == 1.0 and out[2].tool == 0.0
    assert len(judge.behaviour.requests) == 2  # exact answers never reach the judge
    body = judge.behaviour.requests[0]
    assert body["temperature"] == 0.1 and body["messages"][0]["role"] == "system"
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert "CORRECT" in body["messages"][0]["content"]


def test_thinklite_rows_use_math_verify_then_the_judge_and_no_tool_bonus(judge) -> None:
    think = "<think>count</think>" + CALL
    requests = [DeepEyesRequest("Sum?", think + " \\boxed{7}", "7", "thinklite"),
                DeepEyesRequest("Sum?", think + " \\boxed{14/2}", "7", "thinklite"),
                DeepEyesRequest("Where?", think + " \\boxed{left side}", "on the left side", "thinklite"),
                DeepEyesRequest("Sum?", think + " \\boxed{8}", "7", "thinklite"),
                DeepEyesRequest("Sum?", think + " seven", "7", "thinklite")]
    out = score(requests, judge.endpoint)
    assert [s.total for s in out] == [pytest.approx(1.2), pytest.approx(1.2), pytest.approx(1.2), pytest.approx(0.0),
                                      pytest.approx(-0.4)]
    assert [s.accuracy_source for s in out] == ["rule", "rule", "judge", "judge", "rule"]
    assert all(s.tool == 0.0 and s.rule == "thinklite" for s in out)
    assert all(r["temperature"] == 0.0 for r in judge.behaviour.requests)


def test_a_long_answer_is_never_sent_to_the_judge(judge) -> None:
    (out,) = score([visual("red " * 300)], judge.endpoint)
    assert out.accuracy == 0.0 and out.format == -1.0 and judge.behaviour.requests == []


def test_a_judge_outage_fails_the_batch_instead_of_scoring_zero(judge) -> None:
    judge.behaviour.mode = "fail"
    with pytest.raises(JudgeUnavailable, match="HTTP 503"):
        score([visual("it is red")], judge.endpoint)


def test_a_reply_without_a_verdict_is_retried_then_loud(judge) -> None:
    judge.behaviour.mode = "garbage"
    with pytest.raises(Exception, match="no CORRECT/INCORRECT verdict"):
        score([visual("it is red")], judge.endpoint)
    assert len(judge.behaviour.requests) == 2


def test_without_a_judge_undecided_answers_score_zero_and_say_so() -> None:
    out = score([visual("it is red"), visual("red")], None)
    assert [(s.accuracy, s.accuracy_source) for s in out] == [(0.0, "unjudged"), (1.0, "rule")]


def test_the_tool_bonus_ablation_reaches_the_scores(judge) -> None:
    out = score([visual("blue")], judge.endpoint, tool_bonus="always")
    assert out[0].total == pytest.approx(1.2)
