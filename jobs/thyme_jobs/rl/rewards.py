"""Thyme's rewards as pure functions of strings (research notes section 4.3).

Three signals, combined as in the paper (r = Result x (1 + 0.5 Consistency) + 0.5 Format):

- format: the completion is `<think>...</think>` then `<answer>...</answer>` and nothing
  else, each tag exactly once, every `<code>` and `<sandbox_output>` closed;
- accuracy: decided here by rules (normalised string match, option letters, math-verify)
  when they can; what the rules cannot decide goes to the judge (`judge.py`), or scores 0
  without one;
- consistency: a judge verdict on the reasoning's tail and the answer, counted only when
  the answer is right (a consistent wrong answer earns nothing).

The judge plumbing lives elsewhere so everything here is testable on literal strings.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

_STRUCTURE = re.compile(r"\A\s*<think>(?:(?!</think>).)*</think>\s*<answer>(?:(?!</answer>).)*</answer>\s*\Z", re.S)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
_THINK = re.compile(r"<think>(.*?)(?:</think>|\Z)", re.S)
_OPTION = re.compile(r"^\(?([A-Ha-h])\)?(?:[.:)\s]|$)")
_PUNCT_EDGES = re.compile(r"^[\s\"'`.,:;!?()\[\]{}]+|[\s\"'`.,:;!?()\[\]{}]+$")

#: How much of the reasoning the consistency judge reads (Thyme used the last 500 characters).
REASONING_TAIL_CHARS = 500


def format_reward(completion: str) -> float:
    """1.0 for the strict think/answer structure, else 0.0.

    >>> format_reward("<think>crop it</think>\\n<answer>B</answer>")
    1.0
    >>> format_reward("<think>a</think><answer>B</answer> trailing words")
    0.0
    >>> format_reward("<think><code>print(1)</think><answer>B</answer>")  # unclosed code
    0.0
    """
    if not _STRUCTURE.match(completion):
        return 0.0
    for tag in ("think", "answer"):
        if completion.count(f"<{tag}>") != 1 or completion.count(f"</{tag}>") != 1:
            return 0.0
    for tag in ("code", "sandbox_output"):
        if not _balanced(completion, tag):
            return 0.0
    return 1.0


def _balanced(text: str, tag: str) -> bool:
    """Opening and closing tags alternate, starting with an opening one, and all close."""
    depth = 0
    for match in re.finditer(rf"<(/?){tag}>", text):
        depth += -1 if match.group(1) else 1
        if depth not in (0, 1):
            return False
    return depth == 0


def extract_answer(completion: str) -> str | None:
    """The text of the last closed `<answer>` block, stripped; None when there is none.

    >>> extract_answer("<think>x</think><answer> (B) red </answer>")
    '(B) red'
    >>> extract_answer("<answer>never closed") is None
    True
    """
    found = _ANSWER.findall(completion)
    return found[-1].strip() if found else None


def reference_answer(response: str) -> str:
    """The ground truth of a converted row: its response's `<answer>` text, else the whole response."""
    answer = extract_answer(response)
    return answer if answer is not None else response.strip()


def reasoning_tail(completion: str, chars: int = REASONING_TAIL_CHARS) -> str:
    """The last `chars` characters of the `<think>` text, what the consistency judge reads."""
    match = _THINK.search(completion)
    text = match.group(1) if match else completion.split("<answer>")[0]
    return text.strip()[-chars:]


def normalise(answer: str) -> str:
    """Lower case, single spaces, no punctuation at the edges.

    >>> normalise("  The  Red Car. ")
    'the red car'
    """
    text = " ".join(answer.lower().split())
    return _PUNCT_EDGES.sub("", text)


def option_letter(answer: str) -> str | None:
    """The choice letter an answer starts with ("(B) red" -> "B"), if it is one.

    >>> option_letter("(c) the cat"), option_letter("C"), option_letter("Cat")
    ('C', 'C', None)
    """
    match = _OPTION.match(answer.strip())
    return match.group(1).upper() if match else None


def rule_accuracy(answer: str | None, truth: str) -> float | None:
    """1.0 or 0.0 when rules decide, None when only a judge can.

    Rules say "right" on a normalised match, the same option letter, or math-verify
    equivalence; they say "wrong" only for a missing or empty answer, or a different
    option letter when the truth is a bare letter. Everything else is undecided: a
    free-form answer that does not match may still be a paraphrase.

    >>> rule_accuracy("  0.5 ", "\\\\frac{1}{2}"), rule_accuracy("(A)", "B"), rule_accuracy(None, "B")
    (1.0, 0.0, 0.0)
    >>> rule_accuracy("a red car", "red") is None
    True
    """
    if answer is None or not answer.strip():
        return 0.0
    if normalise(answer) == normalise(truth):
        return 1.0
    truth_letter = option_letter(truth)
    if truth_letter is not None and len(normalise(truth)) == 1:
        given = option_letter(answer)
        if given is not None:
            return 1.0 if given == truth_letter else 0.0
    if math_equal(answer, truth):
        return 1.0
    return None


def math_equal(answer: str, truth: str) -> bool:
    """math-verify's equivalence; never raises (a parse failure means "not shown equal")."""
    from math_verify import parse, verify

    # math-verify times out with signal.alarm, which only works on the main thread.
    limit = 5 if threading.current_thread() is threading.main_thread() else None
    def parsed(text: str) -> list:
        # Bare LaTeX ("\\frac{1}{2}") is only found between math delimiters.
        return parse(text, parsing_timeout=limit) or parse(f"${text}$", parsing_timeout=limit)

    try:
        gold, pred = parsed(truth), parsed(answer)
        return bool(gold and pred and verify(gold, pred, timeout_seconds=limit))
    except Exception:  # math-verify raises on exotic input; that is "undecided", not a crash
        log.debug("math-verify could not compare %r with %r", answer, truth, exc_info=True)
        return False


def total_reward(
    fmt: float, accuracy: float, consistency: float, *, w_format: float, w_accuracy: float, w_consistency: float
) -> float:
    """accuracy * w_accuracy * (1 + w_consistency * consistency) + w_format * format.

    Consistency counts only when the answer is right, so a wrong answer that agrees
    with its reasoning earns the format reward alone.

    >>> total_reward(1.0, 1.0, 1.0, w_format=0.5, w_accuracy=1.0, w_consistency=0.5)
    2.0
    >>> total_reward(1.0, 0.0, 1.0, w_format=0.5, w_accuracy=1.0, w_consistency=0.5)
    0.5
    """
    if accuracy <= 0:
        consistency = 0.0
    return accuracy * w_accuracy * (1.0 + w_consistency * consistency) + w_format * fmt


@dataclass
class RewardBreakdown:
    """One trajectory's rewards; `accuracy_source` says who decided the accuracy."""

    format: float
    accuracy: float
    consistency: float
    total: float
    accuracy_source: str  # "rule", "judge" or "unjudged" (no judge configured)
