"""DeepEyes' rewards as pure functions of the completion (research notes part B3; docs/deepeyes.md).

Two rules, picked per row by where the row came from, as the original does:

- **visual** (V* and Chart rows): `0.8·accuracy + 0.2·format + 1.2·tool`.
  format is 0, or -1 when the `<think>` tags do not pair up, when the `<answer>` tags after
  the last `</think>` do not pair up, or when there is no `<answer>...</answer>` there;
  accuracy is the judge's CORRECT/INCORRECT (1/0), forced to 0 (and format to -1) for an
  answer of 1000 characters or more, which is how the recipe stops answers that try to
  talk the judge round; tool is 1 only when the trajectory called the tool *and* the answer
  is correct. The total ranges from -0.2 to 2.0.
- **thinklite** (ThinkLite rows, maths): `1.2·accuracy + 0.4·format`, no tool bonus.
  The answer is the last `\\boxed{...}` after the last `</think>`; none is a format error
  and accuracy 0, more than one a format error; accuracy from math-verify, falling back to
  the judge when the rule says no.

`tool_bonus` carries the DeepEyes paper's ablation of the tool term (V* 87.4 with none,
87.4 unconditional, 90.1 only when the answer is correct), so a run can reproduce it;
the recipe's choice, `when_correct`, is the default.

A bad tool call costs `STEP_PENALTY` (-0.05) each, the value verl's zoom tool returns for
it; it is recorded on its own and added to the total.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ToolBonus = Literal["when_correct", "always", "none"]
Rule = Literal["visual", "thinklite"]

W_ACCURACY, W_FORMAT, W_TOOL = 0.8, 0.2, 1.2
W_MATH_ACCURACY, W_MATH_FORMAT = 1.2, 0.4
MAX_ANSWER_CHARS = 1000  # answers this long or longer score 0 accuracy
STEP_PENALTY = -0.05

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
_TOOL_SPAN = re.compile(r"<tool_call>.*?</tool_call>|<tool_response>.*?</tool_response>", re.S)
_BOXED = re.compile(r"\\boxed\{([^}]+)\}", re.S)


def after_thinking(completion: str) -> str:
    """What follows the last `</think>` (the whole text when there is none), stripped."""
    return completion.rsplit("</think>", 1)[-1].strip()


@dataclass(frozen=True)
class VisualAnswer:
    """The answer a visual rule grades and whether the completion broke the format."""

    text: str
    format_error: bool


def visual_answer(completion: str) -> VisualAnswer:
    """The `<answer>` text and the format verdict of the visual rule.

    Without `<answer>` tags the answer falls back to the text after the thinking with the
    tool spans taken out (still a format error), so the judge grades what the model said.

    >>> visual_answer("<think>zoom</think><answer> red </answer>")
    VisualAnswer(text='red', format_error=False)
    >>> visual_answer("<think>zoom</think> red")
    VisualAnswer(text='red', format_error=True)
    >>> visual_answer("<think>a<think>b</think><answer>red</answer>").format_error  # unpaired <think>
    True
    """
    error = completion.count("<think>") != completion.count("</think>")
    tail = after_thinking(completion)
    if tail.count("<answer>") != tail.count("</answer>"):
        error = True
    match = _ANSWER.search(tail)
    if match:
        text = match.group(1).strip()
    else:
        error = True
        text = _TOOL_SPAN.sub("", tail).strip()
    if not text:
        error = True
    return VisualAnswer(text, error)


def tool_used(completion: str) -> bool:
    """Whether the trajectory holds a complete tool call or tool response (verl's test).

    >>> tool_used('<tool_call>{"name": "image_zoom_in_tool"}</tool_call>'), tool_used("<answer>B</answer>")
    (True, False)
    """
    return _TOOL_SPAN.search(completion) is not None


@dataclass(frozen=True)
class Score:
    """One trajectory's DeepEyes reward and its terms."""

    rule: Rule
    accuracy: float
    format: float  # 0 or -1
    tool: float  # 0 or 1 (always 0 under the thinklite rule)
    step_penalty: float  # STEP_PENALTY per bad tool call (<= 0)
    total: float


def visual_score(accuracy: float, answer: VisualAnswer, used_tool: bool, bad_calls: int = 0,
                 tool_bonus: ToolBonus = "when_correct") -> Score:
    """The visual rule's reward from the judge's accuracy (0 or 1).

    >>> visual_score(1.0, VisualAnswer("red", False), used_tool=True).total
    2.0
    >>> visual_score(0.0, VisualAnswer("", True), used_tool=True).total  # no bonus for a wrong answer
    -0.2
    >>> visual_score(0.0, VisualAnswer("blue", False), used_tool=True, tool_bonus="always").total
    1.2
    """
    if len(answer.text) >= MAX_ANSWER_CHARS:
        accuracy, answer = 0.0, VisualAnswer(answer.text, True)
    fmt = -1.0 if answer.format_error else 0.0
    if tool_bonus == "none" or not used_tool:
        tool = 0.0
    elif tool_bonus == "always":
        tool = 1.0
    else:
        tool = 1.0 if accuracy > 0.5 else 0.0
    penalty = STEP_PENALTY * bad_calls
    total = W_ACCURACY * accuracy + W_FORMAT * fmt + W_TOOL * tool + penalty
    return Score("visual", accuracy, fmt, tool, penalty, round(total, 10))


@dataclass(frozen=True)
class BoxedAnswer:
    text: str | None  # None when there is no \boxed{}
    format_error: bool


def boxed_answer(completion: str) -> BoxedAnswer:
    """The last `\\boxed{}` after the thinking, and the thinklite rule's format verdict.

    >>> boxed_answer("<think>2+2</think> so \\\\boxed{4}")
    BoxedAnswer(text='4', format_error=False)
    >>> boxed_answer("<think>x</think>\\\\boxed{3} or \\\\boxed{4}")
    BoxedAnswer(text='4', format_error=True)
    >>> boxed_answer("<think>x</think> four")
    BoxedAnswer(text=None, format_error=True)
    """
    error = completion.count("<think>") != completion.count("</think>")
    found = _BOXED.findall(after_thinking(completion))
    if not found:
        return BoxedAnswer(None, True)
    return BoxedAnswer(found[-1].strip(), error or len(found) > 1)


def thinklite_score(accuracy: float, answer: BoxedAnswer, bad_calls: int = 0) -> Score:
    """The thinklite rule's reward: 1.2·accuracy + 0.4·format, no tool term.

    >>> thinklite_score(1.0, BoxedAnswer("4", False)).total, thinklite_score(1.0, BoxedAnswer("4", True)).total
    (1.2, 0.8)
    """
    if answer.text is None:
        accuracy = 0.0
    fmt = -1.0 if answer.format_error else 0.0
    penalty = STEP_PENALTY * bad_calls
    total = W_MATH_ACCURACY * accuracy + W_MATH_FORMAT * fmt + penalty
    return Score("thinklite", accuracy, fmt, 0.0, penalty, round(total, 10))


def rule_for(data_source: str) -> Rule:
    """Which rule a row's `data_source` gets: the original routes ThinkLite (and its sibling
    `xince`) to the maths rule and everything else (vstar, chart, vl_agent) to the visual one.

    >>> rule_for("thinklite_eureka"), rule_for("vstar")
    ('thinklite', 'visual')
    """
    return "thinklite" if data_source.startswith("thinklite") or data_source == "xince" else "visual"
