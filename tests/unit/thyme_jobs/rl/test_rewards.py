"""Every reward on real strings, malformed ones included."""

from __future__ import annotations

import doctest

import pytest

from thyme_jobs.rl import rewards

GOOD = (
    "<think>The sign is small. <code>\n```python\nimg = Image.open(image_path)\nprint('x')\n```\n</code>"
    "<sandbox_output><image></sandbox_output> The crop shows a red sign.</think>\n<answer>B</answer>"
)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (GOOD, 1.0),
        ("<think>short</think><answer>red</answer>", 1.0),
        ("  <think>a</think>\n\n<answer>b</answer>\n", 1.0),
        ("<think>a</think><answer></answer>", 1.0),  # empty answer: format fine, accuracy 0
        ("<answer>B</answer>", 0.0),  # no reasoning
        ("<think>a</think>", 0.0),  # no answer
        ("<think>a</think><answer>B", 0.0),  # truncated answer
        ("<think>a</think> then <answer>B</answer>", 0.0),  # text between blocks
        ("<think>a</think><answer>B</answer> and more", 0.0),  # text after the answer
        ("preamble <think>a</think><answer>B</answer>", 0.0),  # text before the reasoning
        ("<think>a</think><answer>B</answer><answer>C</answer>", 0.0),  # two answers
        ("<think>a<think>b</think><answer>B</answer>", 0.0),  # two think openings
        ("<think><code>print(1)</think><answer>B</answer>", 0.0),  # unclosed code
        ("<think></code><code></think><answer>B</answer>", 0.0),  # code closed before opened
        ("<think><sandbox_output>x</think><answer>B</answer>", 0.0),  # unclosed sandbox output
        ("", 0.0),
        ("<|im_end|>", 0.0),
        ("<think>\u00e9\u6f22\u5b57 \x00</think><answer>\u2713</answer>", 1.0),  # odd characters are fine
    ],
)
def test_format_reward(completion: str, expected: float) -> None:
    assert rewards.format_reward(completion) == expected


@pytest.mark.parametrize(
    ("completion", "answer"),
    [
        (GOOD, "B"),
        ("<think>x</think><answer>  two words \n</answer>", "two words"),
        ("<answer>first</answer><answer>second</answer>", "second"),
        ("<think>x</think><answer>unclosed", None),
        ("no tags at all", None),
        ("<answer></answer>", ""),
    ],
)
def test_extract_answer(completion: str, answer: str | None) -> None:
    assert rewards.extract_answer(completion) == answer


@pytest.mark.parametrize(
    ("answer", "truth", "expected"),
    [
        ("B", "B", 1.0),
        ("(B) red", "B", 1.0),
        ("b.", "B", 1.0),
        ("(A)", "B", 0.0),
        ("A. blue", "(B)", 0.0),
        ("The Red Car.", "the red car", 1.0),
        ("0.5", "\\frac{1}{2}", 1.0),
        ("$\\frac{1}{2}$", "0.5", 1.0),
        ("12", "12.0", 1.0),
        ("3", "4", None),  # rules do not say wrong: the judge may know "3" is "three"
        ("a red car", "red", None),
        ("", "B", 0.0),
        ("   ", "B", 0.0),
        (None, "B", 0.0),
        ("\\frac{", "1/2", None),  # malformed LaTeX: math-verify must not crash the reward
        ("}}}{{{\\\\", "x", None),
    ],
)
def test_rule_accuracy(answer: str | None, truth: str, expected: float | None) -> None:
    assert rewards.rule_accuracy(answer, truth) == expected


def test_reference_answer_comes_from_the_rows_answer_block() -> None:
    assert rewards.reference_answer("<think>...</think>\n<answer> C </answer>") == "C"
    assert rewards.reference_answer("  plain answer ") == "plain answer"


def test_reasoning_tail_is_the_end_of_the_thinking() -> None:
    text = "<think>" + "x" * 600 + "END</think><answer>B</answer>"
    tail = rewards.reasoning_tail(text)
    assert len(tail) == 500 and tail.endswith("END")
    assert rewards.reasoning_tail("<think>unfinished thought") == "unfinished thought"


@pytest.mark.parametrize(
    ("fmt", "acc", "cons", "total"),
    [
        (1.0, 1.0, 1.0, 2.0),  # 1 * (1 + 0.5) + 0.5
        (1.0, 1.0, 0.0, 1.5),
        (0.0, 1.0, 1.0, 1.5),
        (1.0, 0.0, 1.0, 0.5),  # consistency of a wrong answer is not counted
        (0.0, 0.0, 0.0, 0.0),
    ],
)
def test_total_reward_follows_the_paper(fmt: float, acc: float, cons: float, total: float) -> None:
    got = rewards.total_reward(fmt, acc, cons, w_format=0.5, w_accuracy=1.0, w_consistency=0.5)
    assert got == pytest.approx(total)


def test_docstring_examples() -> None:
    assert doctest.testmod(rewards).failed == 0
