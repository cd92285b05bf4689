"""The run summary's curves: one segment per SFT phase, chained left to right, and pictures drawn."""

from __future__ import annotations

from pathlib import Path

from thyme_cli import summary
from thyme_jobs import store


def _events(directory: Path, tag: str, values: list[float]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(directory))
    for step, value in enumerate(values, start=1):
        writer.add_scalar(tag, value, step)
    writer.close()


def test_sft_phases_are_separate_segments_that_continue_the_step_axis(tmp_path):
    root = tmp_path / "run"
    _events(root / "sft/tensorboard/phase0", "train/loss", [3.0, 2.0, 1.0])
    _events(root / "sft/tensorboard/phase1", "train/loss", [1.5, 1.25])   # a new learning rate: a jump up (values exact in float32)
    _events(root / "rl/tensorboard", "reward/total", [0.125, 0.25, 0.5, 0.75])
    _events(root / "rl/tensorboard", "reward/format", [0.2, 0.4, 0.6, 0.8])
    result = summary.summarize(store.open_store(str(root)), tmp_path / "pictures")

    segments = summary._scalars(store.open_store(str(root)), "sft/tensorboard", summary.CURVE_TAGS["sft"])
    assert segments == [[(1, 3.0), (2, 2.0), (3, 1.0)], [(4, 1.5), (5, 1.25)]]
    assert result.curves["sft"] == [p for s in segments for p in s]
    assert [v for _, v in result.curves["rl"]] == [0.125, 0.25, 0.5, 0.75]
    for stage in ("sft", "rl"):
        assert Path(result.pictures[stage]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_summary_prints_the_eval_manifests_headline(tmp_path):
    root = store.open_store(str(tmp_path / "run"))
    store.put_json(root, "eval/manifest.json", {"stage": "eval", "headline": "VStarBench: sft 50.0, rl 62.5"})
    lines = summary.summarize(root, tmp_path / "pictures").lines()
    assert "eval headline:   VStarBench: sft 50.0, rl 62.5" in lines
