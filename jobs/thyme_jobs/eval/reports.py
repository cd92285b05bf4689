"""The summary people read: checkpoints x benchmarks beside the published numbers, as JSON, Markdown and PNG.

Our numbers and the paper's are both percentages of the benchmark's headline metrics
(Table 3 of the Thyme paper: V* Attribute/Spatial/Overall, HR-Bench FSP/FCP/Overall,
MME-RealWorld Perception/Reasoning/Overall), so one table holds both. The paper's
numbers come from a 7B model on the full benchmarks; a tiny model on a synthetic set
will not come near them, and the table says which set was scored and how many items.
"""

from __future__ import annotations

import io
from typing import Any

from thyme_jobs.eval import scorers


def summary(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """`results[checkpoint][benchmark]` (each a results.json) -> the summary document."""
    checkpoints = list(results)
    benchmarks: list[str] = []
    for per in results.values():
        benchmarks += [b for b in per if b not in benchmarks]
    rows = []
    for bench in benchmarks:
        spec = scorers.benchmark(bench)
        metrics = _metric_names(bench)
        for metric in metrics:
            row: dict[str, Any] = {"benchmark": bench, "metric": metric, "ours": {}, "published": {}}
            for ckpt in checkpoints:
                res = results[ckpt].get(bench)
                if res is None:
                    continue
                value = scorers.headline(spec, res).get(metric)
                row["ours"][ckpt] = None if value is None else round(100 * value, 2)
            for model, numbers in scorers.PUBLISHED.get(bench, {}).items():
                row["published"][model] = numbers.get(metric)
            rows.append(row)
    items = {ckpt: {b: r.get("items") for b, r in per.items()} for ckpt, per in results.items()}
    return {"checkpoints": checkpoints, "benchmarks": benchmarks, "rows": rows, "items": items,
            "published_models": ["Thyme-VL-7B", "Qwen2.5-VL-7B"],
            "note": "ours: this run's checkpoints on the configured TSVs; published: Thyme paper Table 3 (VLMEvalKit, full benchmarks)"}


def _metric_names(bench: str) -> list[str]:
    spec = scorers.benchmark(bench)
    return {"hrbench": ["FSP", "FCP", "Overall"], "mme": ["Perception", "Reasoning", "Overall"]}.get(
        spec.report, ["Attribute", "Spatial", "Overall"])


def markdown(doc: dict[str, Any]) -> str:
    """The summary as a Markdown table (percent, one decimal; n/a where a number is missing)."""
    ckpts, models = doc["checkpoints"], doc["published_models"]
    head = ["benchmark", "metric", *ckpts, *(f"{m} (paper)" for m in models)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in doc["rows"]:
        cells = [row["benchmark"], row["metric"]]
        cells += [_pct(row["ours"].get(c)) for c in ckpts]
        cells += [_pct(row["published"].get(m)) for m in models]
        lines.append("| " + " | ".join(cells) + " |")
    counts = "; ".join(f"{c}: " + ", ".join(f"{b} {n}" for b, n in per.items()) for c, per in doc["items"].items())
    return "\n".join(lines) + f"\n\nItems scored: {counts}.\n{doc['note']}.\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def headline_line(doc: dict[str, Any]) -> str:
    """One line for `thyme run` and the ThymeRun status: each benchmark's Overall per checkpoint."""
    parts = []
    for row in doc["rows"]:
        if row["metric"] != "Overall":
            continue
        ours = ", ".join(f"{c} {_pct(v)}" for c, v in row["ours"].items())
        parts.append(f"{row['benchmark']}: {ours}")
    return "; ".join(parts)


def bar_chart(doc: dict[str, Any]) -> bytes:
    """Grouped bars of each benchmark's Overall: our checkpoints, then the published models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    overall = [r for r in doc["rows"] if r["metric"] == "Overall"]
    series = [(c, [r["ours"].get(c) for r in overall]) for c in doc["checkpoints"]]
    series += [(f"{m} (paper)", [r["published"].get(m) for r in overall]) for m in doc["published_models"]]
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.8 * len(overall) + 2), 4), dpi=100)
    for i, (label, values) in enumerate(series):
        xs = [j + i * width for j in range(len(overall))]
        ax.bar(xs, [v or 0.0 for v in values], width, label=label)
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(overall))])
    ax.set_xticklabels([r["benchmark"] for r in overall])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Overall accuracy")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()
