"""ChartGemma scoring as OpenThinkIMG's tf_eval does it, with its fuzzy partial credit kept apart."""

import pytest

from thyme_jobs.openthinkimg import chartgemma


@pytest.mark.parametrize("prediction, answer, method", [
    ("Germany", "germany.", "exact"),
    ("  Yes ", "yes", "exact"),
    ("$\\frac{1}{2}$", "0.5", "math_verify"),
    ("1,200", "1200", "math_verify"),
    ("45", "0.45", "percent"),
    ("3.14159", "3.14", "decimal"),
    ("3.149", "3.14", "decimal"),  # truncated, not rounded
])
def test_correct_predictions_name_the_check_that_matched(prediction, answer, method):
    result = chartgemma.score(prediction, answer)
    assert result.correct and result.method == method and result.partial == 1.0


@pytest.mark.parametrize("prediction, answer", [("3.13", "3.14"), ("12", "13"), ("France", "Germany"), ("", "5"),
                                                (None, "5")])
def test_wrong_predictions_are_not_correct(prediction, answer):
    result = chartgemma.score(prediction, answer)
    assert not result.correct and result.method == "none" and 0.0 <= result.partial < 1.0


def test_fuzzy_similarity_is_rapidfuzz_ratio():
    # rapidfuzz.fuzz.ratio("Germany", "Germani") == 85.714...: 2 * LCS(6) / 14
    assert chartgemma.fuzz_ratio("germany", "germani") == pytest.approx(12 / 14)
    assert chartgemma.fuzz_ratio("", "") == 1.0 and chartgemma.fuzz_ratio("abc", "xyz") == 0.0


def test_partial_credit_is_reported_beside_accuracy_never_inside_it():
    scores = [chartgemma.score("Germany", "Germany"), chartgemma.score("Germani", "Germany")]
    summary = chartgemma.accuracy(scores)
    assert summary["accuracy"] == 0.5
    assert summary["partial_credit"] == pytest.approx((1 + 12 / 14) / 2)
    assert summary["items"] == 2
