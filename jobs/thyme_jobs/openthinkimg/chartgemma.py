"""Scoring of OpenThinkIMG's ChartGemma benchmark, as its `tf_eval` task scores it.

Checks in order (research notes, A3): math-verify equivalence, exact match, then the
percent and decimal normalisations (45% = 0.45 = 45; 3.14159 truncated to the answer's
decimals matches 3.14). A prediction that passes one is correct. OpenThinkIMG then gives
everything else `fuzz.ratio / 100` as partial credit *inside* its accuracy; here that
credit is `partial`, reported beside accuracy and never mixed into it.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation

_NUMBER = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?$")


@dataclass(frozen=True)
class Score:
    correct: bool
    method: str  # which check matched: math_verify, exact, percent, decimal, or none
    partial: float  # 1.0 when correct, else the fuzzy similarity in [0, 1]


def normalise(text: str) -> str:
    """Lower case, outer space and a trailing period dropped, inner whitespace collapsed."""
    return re.sub(r"\s+", " ", str(text).strip().lower()).rstrip(".").strip()


def score(prediction: str | None, answer: str) -> Score:
    """One item.

    >>> score("45", "0.45").method
    'percent'
    >>> score("3.14159", "3.14").method
    'decimal'
    >>> s = score("Germany", "Germani"); (s.correct, round(s.partial, 3))
    (False, 0.857)
    """
    if prediction is None or not str(prediction).strip():
        return Score(False, "none", 0.0)
    pred, gold = normalise(prediction), normalise(answer)
    if pred == gold:
        return Score(True, "exact", 1.0)
    if math_equal(pred, gold):
        return Score(True, "math_verify", 1.0)
    p, g = _number(pred), _number(gold)
    if p is not None and g is not None:
        if _percent_equal(pred, gold, p, g):
            return Score(True, "percent", 1.0)
        if _truncated_equal(pred, gold):
            return Score(True, "decimal", 1.0)
    return Score(False, "none", fuzz_ratio(pred, gold))


def accuracy(scores: list[Score]) -> dict[str, float]:
    """`accuracy` (correct items only) and `partial_credit` (OpenThinkIMG's blend), apart."""
    n = len(scores) or 1
    return {"accuracy": sum(s.correct for s in scores) / n, "partial_credit": sum(s.partial for s in scores) / n,
            "items": float(len(scores))}


def math_equal(prediction: str, answer: str) -> bool:
    """math-verify's equivalence; a parse failure or timeout means "not shown equal"."""
    from math_verify import parse, verify

    # math-verify times out with signal.alarm, which works on the main thread only.
    limit = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        gold, pred = parse(answer, parsing_timeout=limit), parse(prediction, parsing_timeout=limit)
        return bool(gold and pred and verify(gold, pred, timeout_seconds=limit))
    except Exception:  # noqa: BLE001 - exotic input is "undecided", not a crash
        return False


def fuzz_ratio(a: str, b: str) -> float:
    """Indel similarity `2 * LCS / (len(a) + len(b))`, the quantity `rapidfuzz.fuzz.ratio` reports (/100).

    >>> fuzz_ratio("chart", "chart")
    1.0
    >>> fuzz_ratio("abc", "")
    0.0
    """
    if not a and not b:
        return 1.0
    previous = [0] * (len(b) + 1)
    for ca in a:
        current = [0]
        for j, cb in enumerate(b):
            current.append(previous[j] + 1 if ca == cb else max(previous[j + 1], current[j]))
        previous = current
    return 2 * previous[-1] / (len(a) + len(b))


def _number(text: str) -> Decimal | None:
    core = text.removesuffix("%").strip()
    if not core or not _NUMBER.match(core):
        return None
    try:
        return Decimal(core.replace(",", ""))
    except InvalidOperation:
        return None


def _percent_equal(pred: str, gold: str, p: Decimal, g: Decimal) -> bool:
    """45% = 45 = 0.45: the same number with the percent sign dropped, or read as a fraction."""
    if p == g:  # _number drops the sign: "45%" and "45"
        return True
    return math.isclose(float(p), float(g) * 100, rel_tol=1e-9) or math.isclose(float(p) * 100, float(g), rel_tol=1e-9)


def _truncated_equal(pred: str, gold: str) -> bool:
    """The prediction cut (not rounded) to the answer's number of decimals equals the answer."""
    p, g = _number(pred), _number(gold)
    if p is None or g is None:
        return False
    places = -g.as_tuple().exponent if g.as_tuple().exponent < 0 else 0
    quantum = Decimal(1).scaleb(-places)
    return p.quantize(quantum, rounding=ROUND_DOWN) == g
