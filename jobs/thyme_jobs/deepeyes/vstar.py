"""V* as DeepEyes' own evaluation scores it (research notes, evaluation.md V* paragraph). Pure.

DeepEyes evaluates V* from the benchmark's raw folders, `direct_attributes/` and
`relative_position/`, each holding `<name>.jpg` and `<name>.json` with `question` and
`options`, where `options[0]` is always the right one. Its harness:

- shuffles the options and asks, under the zoom tool's system prompt,
  `Question: {question}\\nOptions: \\nA. ...\\nB. ...\\n` followed by the trained DeepEyes
  instruction (think, call the tool if needed, answer in `<answer>`), greedily, for a
  handful of turns;
- takes the `<answer>` text (the whole reply without one), unwraps a `\\boxed{}`, and
  scores by rule first: a single character must be the right letter; two characters with a
  dot ("B.") must contain it; a reply containing "<letter>. <option text>" is right;
  anything else goes to a judge (Qwen2.5-72B, a 1/0 consistency verdict, temperature 0)
  against "<letter>. <option text>";
- reports accuracy per folder and overall (the mean over all items), in percent.

Two differences, on purpose: the shuffle is seeded per item (the harness's is not, which
is one reason its V* numbers move between runs), and the crop is taken in the shown frame
(`boxes.py`), where the harness crops the original with shown-frame numbers (DeepEyes #141).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass

CATEGORIES = ("direct_attributes", "relative_position")
LETTERS = "ABCDEF"
# The DeepEyes instruction the released models were trained and evaluated with (reproduced as is).
INSTRUCTION = ("\nThink first, call **image_zoom_in_tool** if needed, then answer. Format strictly as:  "
               "<think>...</think>  <tool_call>...</tool_call> (if tools needed)  <answer>...</answer> ")
JUDGE_TEMPERATURE = 0.0

JUDGE_PROMPT = """Decide whether a model's answer to a question is consistent with the standard answer. They are
consistent when they mean essentially the same, even in other words (for example 'pink' and 'it is pink', or a
bare option letter that names the standard option). Reply with "Judgement: 1" if they are consistent and
"Judgement: 0" if they are not, and nothing else.

[Question]: Is the countertop tan or blue?
[Standard Answer]: A. The countertop is tan.
[Model Answer]: tan
Judgement: 1

[Question]: Who is wearing pants?
[Standard Answer]: A. The boy is wearing pants.
[Model Answer]: C. The girl in the picture is wearing pants.
Judgement: 0

[Question]: {question}
[Standard Answer]: {truth}
[Model Answer]: {answer}
Judgement:"""


@dataclass(frozen=True)
class Item:
    """One V* question, its options in the order shown, and which letter is right."""

    category: str
    name: str
    question: str
    options: tuple[str, ...]  # as shown (shuffled)
    choice: str  # the right option's letter

    @property
    def truth(self) -> str:
        """The standard answer the judge compares against: "<letter>. <option>"."""
        return f"{self.choice}. {self.options[LETTERS.index(self.choice)]}"


def item(category: str, name: str, question: str, options: list[str], seed: int = 0) -> Item:
    """An item from a V* annotation (`options[0]` right), its options shuffled by (seed, category, name)."""
    if not 2 <= len(options) <= len(LETTERS):
        raise ValueError(f"{category}/{name}: V* items have 2 to {len(LETTERS)} options, got {len(options)}")
    order = list(options)
    random.Random(f"{seed}/{category}/{name}").shuffle(order)
    return Item(category, name, question, tuple(order), LETTERS[order.index(options[0])])


def prompt(it: Item) -> str:
    """The user turn: the image, the question and lettered options, then DeepEyes' instruction.

    >>> prompt(Item("direct_attributes", "x", "What colour is the cup?", ("blue", "red"), "B"))
    '<image>\\nQuestion: What colour is the cup?\\nOptions: \\nA. blue\\nB. red\\n\\nThink first, call **image_zoom_in_tool** if needed, then answer. Format strictly as:  <think>...</think>  <tool_call>...</tool_call> (if tools needed)  <answer>...</answer> '
    """
    options = "".join(f"{LETTERS[i]}. {text}\n" for i, text in enumerate(it.options))
    return f"<image>\nQuestion: {it.question}\nOptions: \n{options}" + INSTRUCTION


def predicted(reply: str) -> str:
    """What the harness grades: the `<answer>` text (else the reply), a `\\boxed{}` unwrapped.

    >>> predicted("<think>x</think><answer>\\\\boxed{B}</answer>"), predicted("just B")
    ('B', 'just B')
    """
    match = re.search(r"<answer>(.*?)</answer>", reply, re.S)
    text = match.group(1).strip() if match else reply
    boxed = re.search(r"\\boxed\{([^}]*)\}", text)
    return boxed.group(1) if boxed else text


def rule_score(pred: str, it: Item) -> float | None:
    """1.0 or 0.0 when the harness's rules decide, None when it would ask the judge.

    >>> it = Item("direct_attributes", "x", "Colour?", ("blue", "red"), "B")
    >>> rule_score("B", it), rule_score("A", it), rule_score("B.", it), rule_score("I think B. red", it)
    (1.0, 0.0, 1.0, 1.0)
    >>> rule_score("red", it) is None
    True
    """
    if len(pred) == 1:
        return 1.0 if pred == it.choice else 0.0
    if len(pred) == 2 and "." in pred:
        return 1.0 if it.choice in pred else 0.0
    if it.truth in pred:
        return 1.0
    return None


def judge_messages(pred: str, it: Item) -> list[dict[str, str]]:
    return [{"role": "user", "content": JUDGE_PROMPT.format(question=it.question, truth=it.truth, answer=pred)}]


def read_judgement(reply: str) -> float | None:
    """The judge's 1/0 (after "Judgement:" when present), None when there is none.

    >>> read_judgement("Judgement: 1"), read_judgement("0"), read_judgement("unsure")
    (1.0, 0.0, None)
    """
    text = reply.rsplit("Judgement:", 1)[-1].strip()
    if text.startswith("1"):
        return 1.0
    if text.startswith("0"):
        return 0.0
    return None


def report(scores: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Accuracy in percent per category and overall (the mean over all items, as the harness).

    >>> report([("direct_attributes", 1.0), ("direct_attributes", 0.0), ("relative_position", 1.0)])
    {'direct_attributes': 50.0, 'relative_position': 100.0, 'overall': 66.66666666666667}
    """
    by: dict[str, list[float]] = {}
    for category, score in scores:
        by.setdefault(category, []).append(score)
    out = {c: 100 * sum(v) / len(v) for c, v in sorted(by.items())}
    every = [s for v in by.values() for s in v]
    out["overall"] = 100 * sum(every) / len(every) if every else 0.0
    return out
