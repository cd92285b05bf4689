"""From a model's final text to an option letter, by VLMEvalKit's rules (research notes 1.4 and 3).

Three steps, each a pure function with the reference's quirks kept on purpose (a score
we publish beside Thyme's must be computed the way Thyme's was):

1. `final_answer`: what the Thyme wrapper returns to the scorer. The text inside the
   first `<answer>...</answer>` (stripped), else the literal
   `"No answer tag found in the final output."`; when that answer holds `\\boxed{`, the
   content of the last `\\boxed{...}` with braces balanced.
2. `can_infer` (V*, HR-Bench): an option letter from the answer, else the single option
   whose text the answer contains, else nothing (then a judge may be asked).
3. `mme_letter` (MME-RealWorld): the `<answer>` content again, upper-cased, if the
   scorer still sees the tags, the usual "The best answer is" prefixes removed, and the first A-E
   character; empty when there is none or when a long answer names no letter.
"""

from __future__ import annotations

import re
import string

NO_ANSWER = "No answer tag found in the final output."
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
#: VLMEvalKit turns these into spaces before splitting an answer into words.
_OPTION_PUNCTUATION = ".()[],:;!*#{}"
#: answers VLMEvalKit reads as a refusal, scored as option Z (never correct)
_REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
API_FAILURE = "Failed to obtain answer via API"
# The reference list has two missing commas, so two pairs are joined into one string
# each and those four prefixes are effectively never removed; kept as it is.
_MME_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is" "The correct option is",
    "Best answer:" "Best option:",
)


def final_answer(text: str) -> str:
    """The answer the Thyme wrapper hands to the scorer.

    >>> final_answer("<think>crop</think><answer> **C. S QT 911** </answer>")
    '**C. S QT 911**'
    >>> final_answer("<answer>so \\\\boxed{\\\\frac{1}{2}} or \\\\boxed{B}</answer>")
    'B'
    >>> final_answer("I think B")
    'No answer tag found in the final output.'
    """
    match = _ANSWER.search(text)
    if match is None:
        return NO_ANSWER
    answer = match.group(1).strip()
    if "\\boxed{" in answer:
        boxed = last_boxed(answer)
        if boxed is not None:
            return boxed
    return answer


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}`, braces balanced; None if it never closes.

    >>> last_boxed("\\\\boxed{a} then \\\\boxed{\\\\text{b}}")
    '\\\\text{b}'
    """
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, begin = 0, start + len("\\boxed{")
    for i in range(begin, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            if depth == 0:
                return text[begin:i]
            depth -= 1
    return None


def can_infer_option(answer: str, choices: dict[str, str]) -> str | None:
    """The one option letter that appears as a word of the answer.

    Punctuation in `_OPTION_PUNCTUATION` becomes spaces first, so "(B)", "B." and
    "**B**" all count. Two or more letters present is no answer; no letter but a "Z"
    word is option Z; a known refusal is Z.

    >>> can_infer_option("**C. S QT 911**", {"A": "x", "B": "y", "C": "z", "D": "w"})
    'C'
    >>> can_infer_option("A or B", {"A": "x", "B": "y"}) is None
    True
    """
    if API_FAILURE in answer:
        return None
    if any(refusal in answer for refusal in _REFUSALS):
        return "Z"
    cleaned = answer
    for ch in _OPTION_PUNCTUATION:
        cleaned = cleaned.replace(ch, " ")
    words = cleaned.split()
    present = [c for c in choices if c in words]
    if len(present) == 1:
        return present[0]
    if not present and "Z" in words:
        return "Z"
    return None


def can_infer_text(answer: str, choices: dict[str, str]) -> str | None:
    """The one option whose text (lower-cased) the answer contains.

    >>> can_infer_text("it is a red car", {"A": "Red car", "B": "Blue truck"})
    'A'
    """
    lowered = answer.lower()
    hits = [letter for letter, text in choices.items() if str(text).lower() in lowered]
    return hits[0] if len(hits) == 1 else None


def can_infer(answer: str, choices: dict[str, str]) -> str | None:
    """VLMEvalKit's `can_infer`: the option letter first, the option text second."""
    for letter in choices:
        if letter not in string.ascii_uppercase:
            raise ValueError(f"option key {letter!r} is not an upper-case letter")
    answer = str(answer)
    return can_infer_option(answer, choices) or can_infer_text(answer, choices)


def mme_letter(prediction: str) -> str:
    """MME-RealWorld's letter: `<answer>` content if tagged, prefixes removed, first A-E.

    >>> mme_letter("The best answer is (C)"), mme_letter("<answer>(c)</answer>")
    ('C', 'C')

    Upper-casing comes before the prefixes are removed, so a tagged "The best answer
    is (C)" reads as "E" (from "THE"), as it does in the reference.
    >>> mme_letter("there is no way to know which one of these options is right here")
    ''
    """
    match = _ANSWER.search(prediction)
    if match is not None:
        prediction = match.group(1).strip().upper()  # the reference upper-cases tagged answers
    s = prediction.strip()
    for prefix in _MME_PREFIXES:
        s = s.replace(prefix, "")
    letter = re.search(r"[ABCDE]", s)
    if len(s.split()) > 10 and letter is None:
        return ""
    return letter.group(0) if letter else ""
