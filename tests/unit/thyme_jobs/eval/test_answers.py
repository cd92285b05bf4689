"""VLMEvalKit's answer rules: the final answer, `can_infer`, MME-RealWorld's letter (research notes 1.4, 3)."""

from __future__ import annotations

import doctest

import pytest

from thyme_jobs.eval import answers

ABCD = {"A": "red car", "B": "blue truck", "C": "S QT 911", "D": "a dog"}


@pytest.mark.parametrize(("text", "expected"), [
    ("<think>x</think><answer> C </answer>", "C"),
    ("<answer>first</answer> and <answer>second</answer>", "first"),  # the first tag pair wins
    ("<answer>multi\nline</answer>", "multi\nline"),  # DOTALL
    ("no tags at all", answers.NO_ANSWER),
    ("<answer>unclosed", answers.NO_ANSWER),
    ("<answer>\\boxed{A} then \\boxed{B}</answer>", "B"),  # the last box
    ("<answer>\\boxed{\\frac{1}{2}}</answer>", "\\frac{1}{2}"),  # braces balanced
    ("<answer>\\boxed{never closed</answer>", "\\boxed{never closed"),  # an unclosed box leaves the answer
])
def test_final_answer_takes_the_answer_tag_then_the_last_box(text, expected):
    assert answers.final_answer(text) == expected


@pytest.mark.parametrize(("answer", "expected"), [
    ("C", "C"),
    ("(B)", "B"),
    ("**C. S QT 911**", "C"),          # markdown and a dot around the letter
    ("The answer is [D].", "D"),
    ("A or B", None),                  # two letters: undecided
    ("a", None),                       # lower case is not a letter here (and the text rule finds no option)
    ("Z", "Z"),                        # no option letter but Z
    ("Cannot determine the answer", "Z"),  # a refusal
    ("Failed to obtain answer via API. B", None),  # an API failure is never read
    ("It is the blue truck", "B"),     # no letter: the one option text the answer contains
    ("a red car or a dog", None),      # two option texts: undecided
    (answers.NO_ANSWER, None),
])
def test_can_infer_letter_first_then_option_text(answer, expected):
    assert answers.can_infer(answer, dict(ABCD)) == expected


def test_can_infer_counts_only_the_items_options():
    # "D" is a word of the answer, but D is not an option of this item: one letter remains
    assert answers.can_infer("B, not D", {"A": "x", "B": "y", "C": "z"}) == "B"


def test_can_infer_refuses_a_non_letter_option_key():
    with pytest.raises(ValueError, match="upper-case letter"):
        answers.can_infer("A", {"1": "x"})


@pytest.mark.parametrize(("prediction", "expected"), [
    ("C", "C"),
    ("The best answer is (D)", "D"),
    ("The answer is B", "B"),
    ("(e) was it", ""),                 # lower case: no A-E, short answer: empty
    ("<answer>b</answer>", "B"),        # tagged answers are upper-cased
    ("<answer>The best answer is (C)</answer>", "E"),  # ...before the prefixes go: THE -> E (reference quirk)
    ("The best option is C", "C"),      # this prefix is never removed (joined-prefix quirk); its words hold no A-E
    ("Best answer: A", "B"),            # ...this one is not removed either, and "Best" starts with B
    ("one two three four five six seven eight nine ten eleven", ""),  # long and letterless
    ("one two three four five six seven eight nine ten eleven B", "B"),
    ("", ""),
    (answers.NO_ANSWER, ""),
])
def test_mme_letter(prediction, expected):
    assert answers.mme_letter(prediction) == expected


def test_docstring_examples():
    result = doctest.testmod(answers)
    assert result.attempted > 0 and result.failed == 0
