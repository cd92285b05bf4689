"""The RL layouts through the real convert stage: Thyme-RL and DeepEyes-47k, broken rows, upscaling."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console

from thyme_jobs import failures
from thyme_jobs.convert import config, main, synthetic, synthetic_rl
from thyme_jobs.convert.reporting import Report

from .conftest import thyme

SPEC = synthetic_rl.RLSynthSpec(rows=26, shards=2, min_side=160, max_side=260, corrupt=0.1, seed=3)


def _quiet() -> Report:
    return Report(console=Console(file=io.StringIO()))


def _rows(root: Path, split: str) -> tuple[dict, list[dict], list[dict]]:
    manifest = json.loads((root / f"data/{split}/manifest.json").read_text())
    rows = [json.loads(x) for key in manifest["jsonl"] for x in (root / key).read_text().splitlines()]
    rejects = [json.loads(x) for key in manifest["rejects"] for x in (root / key).read_text().splitlines()]
    return manifest, rows, rejects


@pytest.fixture(scope="module")
def deepeyes_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("deepeyes47k")
    synthetic_rl.write_deepeyes(out, SPEC)
    return out, json.loads((out / "corrupt.json").read_text())


def test_deepeyes_files_convert_with_rejects_reported_and_chart_left_out(deepeyes_dataset, tmp_path) -> None:
    source, broken = deepeyes_dataset
    root = tmp_path / "run"
    cfg = config.ConvertConfig(rl_source={"source": str(source), "layout": "deepeyes"}, run_root=str(root),
                               workers=2, num_shards=2)
    stage = main.run(cfg, _quiet())
    assert sorted(stage.splits) == ["deepeyes_thinklite", "deepeyes_vstar"]  # chart is off by default
    assert not (root / "data/deepeyes_chart").exists()
    assert stage.source is None and stage.rl_source == f"deepeyes:{source}"
    for split in stage.splits:
        manifest, rows, rejects = _rows(root, split)
        assert sorted(r["row"] for r in rejects) == broken[split]
        assert len(rows) == SPEC.rows - len(broken[split]) and manifest["rejected"] == len(broken[split])
        for row in rows:
            assert row["question"].count("<image>") == len(row["images"]) == 1
            assert row["answer"] and row["data_source"] in ("vstar", "thinklite_eureka")
            assert "response" not in row
            with Image.open(root / row["images"][0]) as img:
                assert min(img.size) >= 28
    reasons = " ".join(r["reason"] for split in stage.splits for r in _rows(root, split)[2])
    assert "no ground truth" in reasons or "no user message" in reasons or "<image> tags" in reasons

    thinklite, _, _ = _rows(root, "deepeyes_thinklite")
    assert thinklite["upscaled"] > 0 and stage.upscaled == thinklite["upscaled"]
    assert _rows(root, "deepeyes_vstar")[0]["upscaled"] == 0


def test_the_chart_file_is_converted_when_asked_for(deepeyes_dataset, tmp_path) -> None:
    source, broken = deepeyes_dataset
    cfg = config.ConvertConfig(rl_source={"source": str(source), "layout": "deepeyes", "files": ["chart"]},
                               run_root=str(tmp_path / "run"), workers=1)
    stage = main.run(cfg, _quiet())
    assert list(stage.splits) == ["deepeyes_chart"]
    assert stage.splits["deepeyes_chart"]["rejected"] == len(broken["deepeyes_chart"])


def test_thyme_rl_converts_beside_the_sft_dump_with_solution_as_ground_truth(tmp_path) -> None:
    sft, rl = tmp_path / "sft", tmp_path / "thyme-rl"
    synthetic.write_dump(sft, synthetic.SynthSpec(rows=8, min_side=128, max_side=200, seed=1))
    synthetic_rl.write_thyme_rl(rl, SPEC)
    broken = json.loads((rl / "corrupt.json").read_text())["thyme_rl"]
    root = tmp_path / "run"
    cfg = config.ConvertConfig(source=str(sft), rl_source={"source": str(rl), "layout": "thyme-rl"},
                               run_root=str(root), workers=2)
    stage = main.run(cfg, _quiet())
    assert "thyme_rl" in stage.splits and "2round" in stage.splits
    _, rows, rejects = _rows(root, "thyme_rl")
    assert sorted(r["row"] for r in rejects) == broken
    assert all(row["answer"] in synthetic_rl.COLOURS for row in rows)
    # The "User Image Path" rule applies to RL prompts too: it names the stored image.
    assert all(str(root / row["images"][0]) in row["question"] for row in rows)


def test_the_cli_converts_an_rl_layout(deepeyes_dataset, tmp_path) -> None:
    source, _ = deepeyes_dataset
    root = tmp_path / "run"
    thyme("convert", str(source), str(root), "--layout", "deepeyes", "--files", "vstar", "--workers", "1")
    assert json.loads((root / "data/manifest.json").read_text())["splits"].keys() == {"deepeyes_vstar"}
    done = thyme("convert", str(tmp_path / "missing"), str(tmp_path / "r2"), "--layout", "deepeyes", check=False)
    assert done.returncode == failures.USAGE_ERROR and "does not exist" in done.stdout + done.stderr
    (tmp_path / "empty").mkdir()
    done = thyme("convert", str(tmp_path / "empty"), str(tmp_path / "r3"), "--layout", "deepeyes", check=False)
    assert done.returncode == failures.USAGE_ERROR and "data_0.1.2_visual_toolbox_v2.parquet" in done.stdout + done.stderr
