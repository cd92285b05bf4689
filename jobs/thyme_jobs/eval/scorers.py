"""Per-benchmark scoring, as VLMEvalKit scores Thyme (research notes section 3).

| benchmark | an item is right when | accuracy and breakdown |
| --- | --- | --- |
| `VStarBench` | `can_infer` (or the judge) gives the answer letter | overall and per `category` |
| `HRBench4K`, `HRBench8K` | the same | per `cycle_category`: all and per `category`; then each averaged over the cycles |
| `MME-RealWorld`, `MME-RealWorld-Lite` | `mme_letter` equals the answer letter (no judge; empty is wrong) | Task (Perception/Reasoning) x Subtask x `l2-category`, every level pooled over its items, and Overall |

Judging (V* and HR-Bench only): when `can_infer` finds no letter, VLMEvalKit asks a
judge model to match the answer to an option, up to three times; if the judge is not
configured the item gets option Z (wrong), and if the judge never names a letter the
reference picks a random option. `JudgeFailure` makes that last rule explicit: `random`
(the reference, seeded per item so a rerun gives the same score) or `wrong`.

Scoring is split in two on purpose: `letter_rule` is pure and decides what it can, and
the stage asks the judge only for the items it returns None for. Accuracies are
fractions in [0, 1]; tables print them as percentages.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from thyme_jobs.eval import answers

JudgeFailure = Literal["random", "wrong"]
JUDGE_ATTEMPTS = 3  # VLMEvalKit's retry count for the matching judge


@dataclass(frozen=True)
class Benchmark:
    """What differs between the benchmarks: columns, the letter rule and the report."""

    name: str
    columns: tuple[str, ...]  # columns this benchmark's TSV must have besides the common ones
    rule: Literal["can_infer", "mme"]
    report: Literal["category", "hrbench", "mme"]
    judged: bool


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("VStarBench", ("category",), "can_infer", "category", True),
        Benchmark("HRBench4K", ("category", "cycle_category"), "can_infer", "hrbench", True),
        Benchmark("HRBench8K", ("category", "cycle_category"), "can_infer", "hrbench", True),
        Benchmark("MME-RealWorld", ("category", "l2-category"), "mme", "mme", False),
        Benchmark("MME-RealWorld-Lite", ("category", "l2-category"), "mme", "mme", False),
    )
}


def benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}") from None


@dataclass
class Scored:
    """One item's verdict; `method` says which rule decided it (rule, judge, judge_failed, no_judge)."""

    letter: str
    correct: bool
    method: str


def letter_rule(bench: Benchmark, prediction: str, options: dict[str, str]) -> str | None:
    """The letter the benchmark's rule reads from a prediction; None when only a judge could tell.

    MME-RealWorld never asks a judge: its empty result is an answer (a wrong one).
    """
    if bench.rule == "mme":
        return answers.mme_letter(prediction)
    return answers.can_infer(prediction, dict(options))


def no_judge(truth: str) -> Scored:
    """VLMEvalKit without a judge model ("exact matching"): what cannot be inferred is Z."""
    return Scored("Z", truth == "Z", "no_judge")


def judge_gave_up(options: dict[str, str], truth: str, policy: JudgeFailure, seed: str) -> Scored:
    """After `JUDGE_ATTEMPTS` replies without a letter: a random option or Z, as configured."""
    if policy == "wrong":
        return Scored("Z", False, "judge_failed")
    choices = sorted(options) + (["Z"] if "Z" not in options else [])
    letter = random.Random(seed).choice(choices)
    return Scored(letter, letter == truth, "judge_failed")


def by_rule(letter: str, truth: str) -> Scored:
    return Scored(letter, letter == truth, "rule")


# ---- reports ------------------------------------------------------------------------------


@dataclass
class Row:
    """The fields of one scored item that the reports group by."""

    correct: bool
    category: str = ""
    l2_category: str = ""
    cycle_category: str = ""


def report(bench: Benchmark, rows: Sequence[Row]) -> dict[str, object]:
    """`{"overall": float | None, "breakdown": {...}, "items": n}` in the benchmark's own shape."""
    if bench.report == "hrbench":
        breakdown = hrbench_report(rows)
        overall = breakdown["Average"].get("all") if breakdown.get("Average") else None
    elif bench.report == "mme":
        breakdown = mme_report(rows)
        overall = breakdown.get("Overall") if rows else None
    else:
        breakdown = category_report(rows)
        overall = breakdown.get("Overall")
    return {"overall": overall, "breakdown": breakdown, "items": len(rows)}


def _mean(values: Sequence[bool]) -> float:
    return sum(values) / len(values)


def category_report(rows: Sequence[Row]) -> dict[str, float]:
    """Overall and per category (VLMEvalKit's `report_acc` on a benchmark with one split)."""
    if not rows:
        return {}
    out = {"Overall": _mean([r.correct for r in rows])}
    groups: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        groups[r.category].append(r.correct)
    out.update({c: _mean(v) for c, v in sorted(groups.items())})
    return out


def hrbench_report(rows: Sequence[Row]) -> dict[str, dict[str, float]]:
    """Accuracy per `cycle_category` (all, and per category), then the mean over cycles.

    Every item counts on its own (this is not MMBench's all-or-nothing circular scoring).
    As in the reference, a category's "Average" divides by the number of cycles, also by
    those in which the category has no items.

    >>> rows = [Row(True, "single", cycle_category="c1"), Row(False, "cross", cycle_category="c1"),
    ...         Row(True, "single", cycle_category="c2"), Row(True, "cross", cycle_category="c2")]
    >>> hrbench_report(rows)["Average"]
    {'all': 0.75, 'cross': 0.5, 'single': 1.0}
    """
    cycles: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        cycles[r.cycle_category].append(r)
    out: dict[str, dict[str, float]] = {}
    sums: dict[str, float] = defaultdict(float)
    for cycle, members in sorted(cycles.items()):
        acc = {"all": _mean([r.correct for r in members])}
        per: dict[str, list[bool]] = defaultdict(list)
        for r in members:
            per[r.category].append(r.correct)
        acc.update({c: _mean(v) for c, v in sorted(per.items())})
        out[cycle] = acc
        for key, value in acc.items():
            sums[key] += value
    if cycles:
        out["Average"] = {key: sums[key] / len(cycles) for key in sorted(sums, key=lambda k: (k != "all", k))}
    return out


def mme_report(rows: Sequence[Row]) -> dict[str, object]:
    """Task x Subtask x l2-category accuracies with pooled "Avg" per level and Overall.

    `category` is "Task/Subtask" (e.g. "Perception/Remote Sensing"); l2-categories are
    compared lower-cased, as the reference does.

    >>> r = mme_report([Row(True, "Perception/OCR", "Text"), Row(False, "Perception/OCR", "text"),
    ...                 Row(True, "Reasoning/OCR", "Math")])
    >>> r["Perception"]["OCR"], r["Perception"]["Avg"], round(r["Overall"], 4)
    ({'text': 0.5, 'Avg': 0.5}, 0.5, 0.6667)
    """
    tree: dict[str, dict[str, dict[str, list[bool]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in rows:
        task, _, subtask = r.category.partition("/")
        tree[task][subtask][r.l2_category.lower()].append(r.correct)
    out: dict[str, object] = {}
    all_hits = all_n = 0
    for task, subtasks in sorted(tree.items()):
        task_out: dict[str, object] = {}
        task_hits = task_n = 0
        for subtask, cats in sorted(subtasks.items()):
            sub_out: dict[str, float] = {c: _mean(v) for c, v in sorted(cats.items())}
            hits, n = sum(sum(v) for v in cats.values()), sum(len(v) for v in cats.values())
            sub_out["Avg"] = hits / n if n else 0.0
            task_out[subtask] = sub_out
            task_hits, task_n = task_hits + hits, task_n + n
        task_out["Avg"] = task_hits / task_n if task_n else 0.0
        out[task] = task_out
        all_hits, all_n = all_hits + task_hits, all_n + task_n
    out["Overall"] = all_hits / all_n if all_n else 0.0
    return out


def headline(bench: Benchmark, result: dict[str, object]) -> dict[str, float | None]:
    """The columns the paper prints for a benchmark (Table 3), from a `report`."""
    b = result["breakdown"]
    assert isinstance(b, dict)
    if bench.report == "hrbench":
        avg = b.get("Average", {})
        return {"FSP": avg.get("single"), "FCP": avg.get("cross"), "Overall": avg.get("all")}
    if bench.report == "mme":
        return {"Perception": _avg(b.get("Perception")), "Reasoning": _avg(b.get("Reasoning")),
                "Overall": b.get("Overall") if result["items"] else None}
    return {"Attribute": b.get("direct_attributes"), "Spatial": b.get("relative_position"), "Overall": b.get("Overall")}


def _avg(task: object) -> float | None:
    return task.get("Avg") if isinstance(task, dict) else None


#: Paper Table 3 (Thyme-VL-7B and its Qwen2.5-VL-7B baseline, scored with VLMEvalKit), in percent.
PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "VStarBench": {"Thyme-VL-7B": {"Attribute": 83.5, "Spatial": 80.3, "Overall": 82.2},
                   "Qwen2.5-VL-7B": {"Attribute": 78.2, "Spatial": 73.6, "Overall": 76.4}},
    "HRBench4K": {"Thyme-VL-7B": {"FSP": 91.0, "FCP": 63.0, "Overall": 77.0},
                  "Qwen2.5-VL-7B": {"FSP": 85.2, "FCP": 52.2, "Overall": 68.8}},
    "HRBench8K": {"Thyme-VL-7B": {"FSP": 86.5, "FCP": 57.5, "Overall": 72.0},
                  "Qwen2.5-VL-7B": {"FSP": 78.8, "FCP": 51.8, "Overall": 65.3}},
    "MME-RealWorld": {"Thyme-VL-7B": {"Perception": 67.1, "Reasoning": 48.4, "Overall": 64.8},
                      "Qwen2.5-VL-7B": {"Perception": 60.6, "Reasoning": 38.6, "Overall": 58.3}},
    "MME-RealWorld-Lite": {"Thyme-VL-7B": {"Perception": 59.1, "Reasoning": 49.1, "Overall": 55.2},
                           "Qwen2.5-VL-7B": {"Perception": 48.8, "Reasoning": 37.7, "Overall": 44.1}},
}
