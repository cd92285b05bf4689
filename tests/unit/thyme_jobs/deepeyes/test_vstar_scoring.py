"""V* under DeepEyes' own scoring: seeded option order, the harness's rules, per-category report."""

from __future__ import annotations

import json

import pytest

from thyme_jobs.convert import synthetic_rl
from thyme_jobs.deepeyes import vstar


def test_the_right_option_is_found_after_a_seeded_shuffle() -> None:
    options = ["red", "blue", "green", "yellow"]
    first = vstar.item("direct_attributes", "sa_1", "Colour?", options, seed=3)
    again = vstar.item("direct_attributes", "sa_1", "Colour?", options, seed=3)
    assert first == again and first.options[vstar.LETTERS.index(first.choice)] == "red"
    assert sorted(first.options) == sorted(options)
    letters = {vstar.item("direct_attributes", f"sa_{i}", "Colour?", options).choice for i in range(40)}
    assert len(letters) > 1  # the right answer is not always A once shown


@pytest.mark.parametrize(("reply", "score"), [
    ("<think>zoomed</think><answer>B</answer>", 1.0),
    ("<answer>A</answer>", 0.0),
    ("<answer>B.</answer>", 1.0),
    ("<answer>\\boxed{B}</answer>", 1.0),
    ("<answer>It is B. red, clearly</answer>", 1.0),
    ("<answer>red</answer>", None),  # the judge decides
    ("no tags: B", None),
])
def test_the_harness_rules(reply: str, score: float | None) -> None:
    it = vstar.Item("direct_attributes", "x", "Colour?", ("blue", "red"), "B")
    assert vstar.rule_score(vstar.predicted(reply), it) == score


def test_the_judge_is_asked_against_letter_and_option() -> None:
    it = vstar.Item("relative_position", "x", "Left or right?", ("right", "left"), "B")
    (message,) = vstar.judge_messages("on the left", it)
    assert "[Standard Answer]: B. left" in message["content"] and "[Model Answer]: on the left" in message["content"]


def test_the_synthetic_folders_have_the_v_star_layout(tmp_path) -> None:
    synthetic_rl.write_vstar(tmp_path, rows=3, min_side=160, max_side=200, seed=1)
    for category in vstar.CATEGORIES:
        names = sorted(p.stem for p in (tmp_path / category).glob("*.jpg"))
        assert len(names) == 3
        for name in names:
            anno = json.loads((tmp_path / category / f"{name}.json").read_text())
            it = vstar.item(category, name, anno["question"], anno["options"])
            assert vstar.prompt(it).startswith("<image>\nQuestion: ") and it.truth.endswith(anno["options"][0])
