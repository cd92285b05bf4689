"""DeepEyes' reward, every branch: 0.8·acc + 0.2·format + 1.2·tool, and ThinkLite's own rule."""

from __future__ import annotations

import pytest

from thyme_jobs.deepeyes import judging, rewards
from thyme_jobs.deepeyes.rewards import BoxedAnswer, VisualAnswer

CALL = '<tool_call>{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [1, 2, 40, 50]}}</tool_call>'
RESPONSE = "<|im_end|>\n<|im_start|>user\n<tool_response>\n<image>Zoomed in.\n</tool_response>"


@pytest.mark.parametrize(("completion", "answer", "error"), [
    ("<think>look</think><answer>red</answer>", "red", False),
    ("<think>look</think>" + CALL + RESPONSE + "<think>ok</think><answer>red</answer>", "red", False),
    ("<think>look<answer>red</answer>", "", True),  # unbalanced <think>: everything is "after thinking"
    ("<think>a</think><think>b</think><answer>red", "", True),  # unclosed <answer>
    ("<think>a</think><answer>red</answer></answer>", "red", True),  # unbalanced <answer>
    ("<think>a</think>" + CALL + " red", "red", True),  # no <answer>: text without tool spans
    ("<think>a</think><answer> </answer>", "", True),  # an empty answer
])
def test_the_format_term_and_the_answer_text(completion: str, answer: str, error: bool) -> None:
    got = rewards.visual_answer(completion)
    assert got.format_error is error
    if answer:
        assert got.text == answer


@pytest.mark.parametrize(("accuracy", "format_error", "used_tool", "total"), [
    (1.0, False, True, 0.8 + 1.2),
    (1.0, False, False, 0.8),
    (1.0, True, True, 0.8 - 0.2 + 1.2),
    (1.0, True, False, 0.6),
    (0.0, False, True, 0.0),  # a tool call with a wrong answer earns nothing
    (0.0, False, False, 0.0),
    (0.0, True, True, -0.2),
    (0.0, True, False, -0.2),
])
def test_the_visual_total_for_every_combination(accuracy, format_error, used_tool, total) -> None:
    score = rewards.visual_score(accuracy, VisualAnswer("red", format_error), used_tool)
    assert score.total == pytest.approx(total)
    assert score.tool == (1.0 if used_tool and accuracy else 0.0)
    assert score.total == pytest.approx(0.8 * score.accuracy + 0.2 * score.format + 1.2 * score.tool)


@pytest.mark.parametrize(("bonus", "right_with_tool", "wrong_with_tool", "right_without"), [
    ("when_correct", 2.0, 0.0, 0.8),  # the recipe (V* 90.1 in the paper's ablation)
    ("always", 2.0, 1.2, 0.8),  # unconditional (87.4)
    ("none", 0.8, 0.0, 0.8),  # no tool reward (87.4)
])
def test_the_tool_bonus_ablation(bonus, right_with_tool, wrong_with_tool, right_without) -> None:
    answer = VisualAnswer("red", False)
    assert rewards.visual_score(1.0, answer, True, tool_bonus=bonus).total == pytest.approx(right_with_tool)
    assert rewards.visual_score(0.0, answer, True, tool_bonus=bonus).total == pytest.approx(wrong_with_tool)
    assert rewards.visual_score(1.0, answer, False, tool_bonus=bonus).total == pytest.approx(right_without)


def test_an_answer_of_1000_characters_scores_no_accuracy_and_breaks_the_format() -> None:
    long = VisualAnswer("x" * 1000, False)
    score = rewards.visual_score(1.0, long, used_tool=True)
    assert (score.accuracy, score.format, score.tool, score.total) == (0.0, -1.0, 0.0, pytest.approx(-0.2))
    assert rewards.visual_score(1.0, VisualAnswer("x" * 999, False), used_tool=True).total == pytest.approx(2.0)


def test_bad_tool_calls_cost_005_each_and_are_recorded() -> None:
    score = rewards.visual_score(1.0, VisualAnswer("red", False), used_tool=True, bad_calls=2)
    assert score.step_penalty == pytest.approx(-0.1) and score.total == pytest.approx(1.9)
    assert rewards.thinklite_score(1.0, BoxedAnswer("4", False), bad_calls=1).total == pytest.approx(1.15)


def test_tool_use_is_a_complete_call_or_response_in_the_trajectory() -> None:
    assert rewards.tool_used("<think>x</think>" + CALL)
    assert rewards.tool_used("<tool_response>Error: bad box</tool_response>")
    assert not rewards.tool_used("<tool_call>{never closed")


@pytest.mark.parametrize(("completion", "text", "error"), [
    ("<think>2+2</think> \\boxed{4}", "4", False),
    ("<think>2+2</think> \\boxed{3}, no, \\boxed{4}", "4", True),
    ("<think>2+2 \\boxed{4}", "4", True),  # unbalanced <think>
    ("<think>2+2</think> four", None, True),
    ("<think>\\boxed{4}</think> four", None, True),  # a box inside the thinking does not count
])
def test_the_thinklite_answer_and_format(completion: str, text: str | None, error: bool) -> None:
    assert rewards.boxed_answer(completion) == BoxedAnswer(text, error)


@pytest.mark.parametrize(("accuracy", "answer", "total"), [
    (1.0, BoxedAnswer("4", False), 1.2),
    (1.0, BoxedAnswer("4", True), 0.8),
    (0.0, BoxedAnswer("5", False), 0.0),
    (0.0, BoxedAnswer("5", True), -0.4),
    (1.0, BoxedAnswer(None, True), -0.4),  # no \boxed{}: accuracy 0 whatever was passed
])
def test_the_thinklite_total_has_no_tool_term(accuracy, answer, total) -> None:
    score = rewards.thinklite_score(accuracy, answer)
    assert score.total == pytest.approx(total) and score.tool == 0.0 and score.rule == "thinklite"


@pytest.mark.parametrize(("source", "rule"), [("vstar", "visual"), ("chart", "visual"), ("vl_agent", "visual"),
                                               ("thinklite_eureka", "thinklite"), ("xince", "thinklite")])
def test_rows_pick_their_rule_by_data_source(source: str, rule: str) -> None:
    assert rewards.rule_for(source) == rule


def test_the_judge_prompts_carry_the_question_truth_and_answer() -> None:
    system, user = judging.visual_messages("What colour?", "The car is red.", "red")
    assert "CORRECT" in system["content"] and system["role"] == "system"
    assert "[Question]: What colour?" in user["content"] and user["content"].endswith("[Your Judgement]:")
    assert "[Model's Answer]: red" in user["content"]
    (math,) = judging.math_messages("2+2?", "4", "four")
    assert "Equivalence Judgement" in math["content"] and "four" in math["content"]


@pytest.mark.parametrize(("reply", "value"), [("CORRECT", 1.0), ("  correct\n", 1.0), ("INCORRECT", 0.0),
                                              ("The answer is INCORRECT.", 0.0), ("I think so", None), ("", None)])
def test_the_visual_verdict_is_read_or_refused(reply: str, value: float | None) -> None:
    assert judging.read_visual_verdict(reply) == value
