"""Per-benchmark scoring: which rule reads the letter, the judge fallbacks, and each breakdown."""

from __future__ import annotations

import doctest

import pytest

from thyme_jobs.eval import scorers
from thyme_jobs.eval.scorers import Row

VSTAR, HR4K, MME = (scorers.benchmark(n) for n in ("VStarBench", "HRBench4K", "MME-RealWorld"))
OPTS = {"A": "red", "B": "blue", "C": "green", "D": "yellow"}


def test_unknown_benchmark_is_named():
    with pytest.raises(ValueError, match="unknown benchmark 'MMBench'"):
        scorers.benchmark("MMBench")


def test_vstar_and_hrbench_use_can_infer_and_leave_the_rest_to_the_judge():
    assert scorers.letter_rule(VSTAR, "**B. blue**", OPTS) == "B"
    assert scorers.letter_rule(HR4K, "it is green", OPTS) == "C"
    assert scorers.letter_rule(VSTAR, "I am not sure", OPTS) is None
    assert VSTAR.judged and HR4K.judged and not MME.judged


def test_mme_never_asks_a_judge_and_empty_is_an_answer():
    assert scorers.letter_rule(MME, "I am not sure", {**OPTS, "E": "x"}) == ""
    assert scorers.by_rule("", "A") == scorers.Scored("", False, "rule")


def test_without_a_judge_what_cannot_be_inferred_is_z():
    assert scorers.no_judge("B") == scorers.Scored("Z", False, "no_judge")


def test_a_judge_that_never_names_a_letter_gives_a_seeded_random_option_or_wrong():
    first = scorers.judge_gave_up(OPTS, "B", "random", "VStarBench/7")
    again = scorers.judge_gave_up(OPTS, "B", "random", "VStarBench/7")
    assert first == again and first.letter in {"A", "B", "C", "D", "Z"} and first.method == "judge_failed"
    assert first.correct == (first.letter == "B")
    picks = {scorers.judge_gave_up(OPTS, "B", "random", f"x/{i}").letter for i in range(60)}
    assert picks == {"A", "B", "C", "D", "Z"}  # Z is among the random picks, as in the reference
    assert scorers.judge_gave_up(OPTS, "B", "wrong", "x") == scorers.Scored("Z", False, "judge_failed")


def test_vstar_reports_overall_and_each_category():
    rows = [Row(True, "direct_attributes"), Row(False, "direct_attributes"), Row(True, "relative_position")]
    result = scorers.report(VSTAR, rows)
    assert result["items"] == 3
    assert result["overall"] == pytest.approx(2 / 3)
    assert result["breakdown"]["direct_attributes"] == pytest.approx(0.5)
    assert scorers.headline(VSTAR, result) == {"Attribute": 0.5, "Spatial": 1.0, "Overall": pytest.approx(2 / 3)}


def test_hrbench_averages_per_cycle_accuracies_not_items():
    # cycle c1 has 4 items (1 right), cycle c2 has 1 item (right): item mean 0.4, cycle mean 0.625
    rows = [Row(True, "single", cycle_category="c1")] + [Row(False, "cross", cycle_category="c1")] * 3
    rows += [Row(True, "single", cycle_category="c2")]
    result = scorers.report(HR4K, rows)
    assert result["overall"] == pytest.approx((0.25 + 1.0) / 2)
    assert result["breakdown"]["c1"] == {"all": 0.25, "cross": 0.0, "single": 1.0}
    # "cross" is absent from c2, yet the reference divides by both cycles: (0 + nothing) / 2
    assert result["breakdown"]["Average"]["cross"] == pytest.approx(0.0)
    assert result["breakdown"]["Average"]["single"] == pytest.approx(1.0)
    assert scorers.headline(HR4K, result) == {"FSP": 1.0, "FCP": 0.0, "Overall": pytest.approx(0.625)}


def test_hrbench_category_missing_from_a_cycle_is_divided_by_every_cycle():
    rows = [Row(True, "single", cycle_category="c1"), Row(True, "cross", cycle_category="c1"),
            Row(True, "single", cycle_category="c2")]
    assert scorers.hrbench_report(rows)["Average"]["cross"] == pytest.approx(0.5)


def test_mme_breakdown_pools_items_at_every_level():
    rows = [Row(True, "Perception/OCR with Complex Context", "Text"), Row(False, "Perception/OCR with Complex Context", "text"),
            Row(True, "Perception/Remote Sensing", "color"),
            Row(False, "Reasoning/Autonomous_Driving", "intention"), Row(True, "Reasoning/Autonomous_Driving", "intention"),
            Row(True, "Reasoning/Autonomous_Driving", "attention")]
    result = scorers.report(MME, rows)
    b = result["breakdown"]
    assert b["Perception"]["OCR with Complex Context"] == {"text": 0.5, "Avg": 0.5}  # l2 compared lower-cased
    assert b["Perception"]["Avg"] == pytest.approx(2 / 3)  # pooled items, not the mean of subtasks
    assert b["Reasoning"]["Autonomous_Driving"]["intention"] == 0.5
    assert b["Reasoning"]["Avg"] == pytest.approx(2 / 3)
    assert result["overall"] == b["Overall"] == pytest.approx(4 / 6)
    assert scorers.headline(MME, result)["Perception"] == pytest.approx(2 / 3)


def test_empty_reports_have_no_accuracy():
    for bench in (VSTAR, HR4K, MME):
        assert scorers.report(bench, [])["overall"] is None


def test_published_numbers_cover_every_benchmark_and_headline_metric():
    for name, bench in scorers.BENCHMARKS.items():
        keys = set(scorers.headline(bench, scorers.report(bench, [Row(True, "Perception/x", "y", "c")])))
        for model in ("Thyme-VL-7B", "Qwen2.5-VL-7B"):
            assert set(scorers.PUBLISHED[name][model]) == keys


def test_docstring_examples():
    result = doctest.testmod(scorers)
    assert result.attempted > 0 and result.failed == 0
