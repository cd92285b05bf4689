"""What a finished run produced, for people: the numbers from each stage's manifest,
the training curves from its TensorBoard events, drawn as PNG, and the evaluation
table (checkpoints x benchmarks beside the published numbers) the eval stage wrote.

Curves come from the event files the stages already write (`sft/tensorboard/`,
`rl/tensorboard/`), so the summary shows what TensorBoard would, without a second
metrics format to keep in step.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thyme_jobs import store

# Which scalar is "the" curve of a stage: the first tag that matches, in order.
CURVE_TAGS = {
    "sft": ("train/loss", "loss"),
    "rl": ("reward/total", "rewards/total", "reward/mean", "reward"),
}
# Drawn beside the main curve: what the reward is made of.
PART_TAGS = {"rl": ("reward/format", "reward/accuracy")}


@dataclass
class RunSummary:
    run_root: str
    rows_converted: int | None = None
    rows_rejected: int | None = None
    sft_loss: float | None = None
    rl_reward: float | None = None
    eval_table: str | None = None
    eval_headline: str | None = None
    eval_chart: str | None = None
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    pictures: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        def fmt(v: Any) -> str:
            return "n/a" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

        out = [f"artifacts:       {self.run_root}",
               f"rows converted:  {fmt(self.rows_converted)} (rejected: {fmt(self.rows_rejected)})",
               f"SFT final loss:  {fmt(self.sft_loss)}",
               f"RL mean reward:  {fmt(self.rl_reward)}"]
        if self.eval_headline:
            out.append(f"eval headline:   {self.eval_headline}")
        out += [f"{stage} curve:       {path}" for stage, path in self.pictures.items()]
        if self.eval_table:
            out += ["", "evaluation (accuracy %):", *self.eval_table.rstrip().splitlines()]
            if self.eval_chart:
                out.append(f"eval chart:     {self.eval_chart}")
        return out


def summarize(root: store.ArtifactStore, picture_dir: Path) -> RunSummary:
    out = RunSummary(run_root=root.location())
    data = _json(root, "data/manifest.json")
    if data:
        out.rows_converted = data.get("rows")
        out.rows_rejected = data.get("rejected")
    sft = _json(root, "sft/manifest.json")
    if sft:
        out.sft_loss = _number(sft, "final_loss", "loss")
    rl = _json(root, "rl/manifest.json")
    if rl:
        out.rl_reward = _number(rl, "mean_reward", "reward")
    evaluation = _json(root, "eval/manifest.json")
    if evaluation and isinstance(evaluation.get("headline"), str):
        out.eval_headline = evaluation["headline"]
    if root.exists("eval/manifest.json") and root.exists("eval/summary.md"):
        out.eval_table = root.get_bytes("eval/summary.md").decode()
        chart = picture_dir / "eval_summary.png"
        chart.parent.mkdir(parents=True, exist_ok=True)
        root.get_file("eval/summary.png", chart)
        out.eval_chart = str(chart)
    for stage, tags in CURVE_TAGS.items():
        segments = _scalars(root, f"{stage}/tensorboard", tags)
        if segments:
            out.curves[stage] = [p for segment in segments for p in segment]
            parts = {tag: _scalars(root, f"{stage}/tensorboard", (tag,)) for tag in PART_TAGS.get(stage, ())}
            path = picture_dir / f"{stage}_{'loss' if stage == 'sft' else 'reward'}.png"
            _plot(segments, parts, path, f"{stage.upper()} {'loss' if stage == 'sft' else 'reward'}")
            out.pictures[stage] = str(path)
    return out


def _json(root: store.ArtifactStore, key: str) -> dict[str, Any] | None:
    try:
        return store.get_json(root, key)
    except store.ObjectNotFound:
        return None


def _number(doc: dict[str, Any], *keys: str) -> float | None:
    """The first of `keys` found at the top level or under "metrics"/"summary"."""
    for scope in (doc, doc.get("metrics") or {}, doc.get("summary") or {}):
        for key in keys:
            if isinstance(scope.get(key), (int, float)):
                return float(scope[key])
    return None


Segment = list[tuple[int, float]]


def _scalars(root: store.ArtifactStore, prefix: str, tags: tuple[str, ...]) -> list[Segment]:
    """Scalar points of the first matching tag over every event file under `prefix`, one
    segment per event directory (an SFT phase each: sft/tensorboard/phase0, phase1, ...).

    Each phase counts its steps from 1; later segments are shifted to start where the
    previous one ended, so the picture reads left to right, and stay separate segments,
    because a new phase (other splits, another learning rate) is a new curve, not a jump."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    keys = sorted(k for k in root.list(prefix) if "tfevents" in k.rsplit("/", 1)[-1])
    if not keys:
        return []
    by_dir: dict[str, dict[str, list[tuple[int, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, key in enumerate(keys):
            local = Path(tmp) / str(i) / key.rsplit("/", 1)[-1]
            root.get_file(key, local)
            acc = EventAccumulator(str(local.parent), size_guidance={"scalars": 0})
            acc.Reload()
            found = by_dir.setdefault(key.rsplit("/", 1)[0], {})
            for tag in acc.Tags().get("scalars", []):
                found.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    for wanted in tags:
        segments: list[Segment] = []
        for directory in sorted(by_dir):
            points = next((sorted(p) for t, p in by_dir[directory].items() if t == wanted or t.endswith("/" + wanted)), [])
            offset = segments[-1][-1][0] if segments else 0
            if points:
                segments.append([(offset + step, value) for step, value in points])
        if segments:
            return segments
    return []


def _plot(segments: list[Segment], parts: dict[str, list[Segment]], path: Path, title: str) -> None:
    """The main curve, one line per segment (phase) with a dashed mark where a phase starts;
    the reward's parts as thin lines; a running mean when the points are many and noisy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for i, segment in enumerate(segments):
        label = f"phase {i + 1}" if len(segments) > 1 else title.split()[-1]
        ax.plot([p[0] for p in segment], [p[1] for p in segment], marker="o", markersize=3, label=label)
        if i:
            ax.axvline(segment[0][0], color="grey", linestyle="--", linewidth=0.8)
    for tag, part in parts.items():
        points = [p for segment in part for p in segment]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], linewidth=0.8, alpha=0.7, label=tag.split("/")[-1])
    points = [p for segment in segments for p in segment]
    if len(segments) == 1 and len(points) >= 8:
        window = max(2, len(points) // 8)
        means = [sum(v for _, v in points[max(0, k - window + 1): k + 1]) / len(points[max(0, k - window + 1): k + 1])
                 for k in range(len(points))]
        ax.plot([p[0] for p in points], means, color="black", linewidth=1.5, label=f"mean of {window}")
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
