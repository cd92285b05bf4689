"""What DeepEyes asks its judge, and how the reply is read. Pure: strings in, strings out.

The verl recipe asks an OpenAI-compatible judge (Qwen2.5-72B in the papers) whether the
model's answer means the same as the standard answer, with two worked examples, at
temperature 0.1, thinking disabled, and reads a one-word verdict: CORRECT or INCORRECT.
The ThinkLite maths rule asks, only when math-verify says no, whether the student's final
answer is equivalent to the reference, and reads TRUE or FALSE. The wording below is ours;
the semantics (examples, verdict words, temperatures) are the recipe's.

A reply with no verdict is not read as "wrong" (the recipe's silent 0.0): the judge
client retries it and then raises, like every other judge failure here.
"""

from __future__ import annotations

import re

VISUAL_TEMPERATURE = 0.1
MATH_TEMPERATURE = 0.0

VISUAL_SYSTEM = (
    "You grade a model's answer against a standard answer to the same question. Be strict: the answer is "
    "correct only if it carries the full meaning of the standard answer. Reply with one word, CORRECT or "
    "INCORRECT, and nothing else."
)

VISUAL_USER = """Decide whether the model's answer is correct.

Example 1
[Question]: Is the countertop tan or blue?
[Standard Answer]: The countertop is tan.
[Model's Answer]: tan
[Your Judgement]: CORRECT

Example 2
[Question]: Is the man's phone both blue and closed?
[Standard Answer]: Yes, the phone is both blue and closed.
[Model's Answer]: No.
[Your Judgement]: INCORRECT

Task
[Question]: {question}
[Standard Answer]: {truth}
[Model's Answer]: {answer}
[Your Judgement]:"""

MATH_USER = """You check a student's final answer to a maths problem against the reference answer, which is always
right. Treat answers as equal when they are mathematically or notationally equivalent (pay attention to LaTeX);
an answer that is almost right is not equal.

Problem:
{question}

Reference answer:
{truth}

Student's final answer:
{answer}

Reply with the heading "## Equivalence Judgement" followed by TRUE or FALSE, and nothing else."""

_CORRECT = re.compile(r"\bCORRECT\b", re.I)
_INCORRECT = re.compile(r"\bINCORRECT\b", re.I)


def visual_messages(question: str, truth: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": VISUAL_SYSTEM},
            {"role": "user", "content": VISUAL_USER.format(question=question, truth=truth, answer=answer)}]


def math_messages(question: str, truth: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": MATH_USER.format(question=question, truth=truth, answer=answer)}]


def read_visual_verdict(reply: str) -> float | None:
    """1.0 for CORRECT, 0.0 for INCORRECT, None when the reply has neither.

    >>> read_visual_verdict("CORRECT"), read_visual_verdict("incorrect."), read_visual_verdict("maybe")
    (1.0, 0.0, None)
    """
    if _INCORRECT.search(reply):
        return 0.0
    if _CORRECT.search(reply):
        return 1.0
    return None


def read_math_verdict(reply: str) -> float | None:
    """1.0 for TRUE, 0.0 for FALSE (after the heading when there is one), None otherwise.

    >>> read_math_verdict("## Equivalence Judgement\\nTRUE"), read_math_verdict("FALSE"), read_math_verdict("?")
    (1.0, 0.0, None)
    """
    verdict = reply.rsplit("## Equivalence Judgement", 1)[-1].lower()
    true, false = "true" in verdict, "false" in verdict
    if true and not false:
        return 1.0
    if false and not true:
        return 0.0
    return None
