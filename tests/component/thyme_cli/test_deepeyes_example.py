"""The DeepEyes example end to end, as `bash examples/deepeyes.sh` runs it: a synthetic
DeepEyes-47k converted (Chart left out, broken rows rejected, small images upscaled),
then RL with the zoom tool and DeepEyes' reward from a tiny model, with no sandbox, then
V* evaluated under the DeepEyes protocol."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RUN_ROOT = Path("thyme/deepeyes/runs/local/deepeyes")


def test_the_deepeyes_example_runs_end_to_end_on_cpu(tmp_path) -> None:
    started = time.monotonic()
    done = subprocess.run(["bash", str(ROOT / "examples/deepeyes.sh")], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "THYME_STORE": str(tmp_path)}, timeout=900)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert seconds < 600, f"the example must finish in a few minutes on 2 cores (took {seconds:.0f}s)"
    root = tmp_path / RUN_ROOT
    data = json.loads((root / "data/manifest.json").read_text())
    assert sorted(data["splits"]) == ["deepeyes_thinklite", "deepeyes_vstar"] and data["upscaled"] > 0
    broken = json.loads((tmp_path / "thyme/datasets/deepeyes-47k/corrupt.json").read_text())
    assert data["rejected"] == len(broken["deepeyes_vstar"]) + len(broken["deepeyes_thinklite"])

    manifest = json.loads((root / "rl/manifest.json").read_text())
    assert manifest["config"]["recipe"] == "deepeyes" and manifest["steps"] == 3
    assert math.isfinite(manifest["mean_reward"]) and -0.5 <= manifest["mean_reward"] <= 2.0
    records = [json.loads(x) for x in (root / "rl/rollouts/00000001.jsonl").read_text().splitlines()]
    assert records and all({"tool", "step_penalty"} <= r["rewards"].keys() for r in records)
    assert manifest["config"]["sandbox_url"] is None  # the local executor started no sandbox for it
    assert re.search(r"RL mean reward:\s+-?\d", done.stdout)

    # then V* under the DeepEyes protocol, on the base model and the RL checkpoint
    evaluated = json.loads((root / "eval/manifest.json").read_text())
    assert set(evaluated["accuracy"]) == {"base", "rl"} and "VStarBench" in evaluated["accuracy"]["rl"]
    items = [json.loads(x) for x in next((root / "eval").rglob("*.jsonl")).read_text().splitlines()]
    assert items and all(r["protocol"] == "deepeyes" for r in items)
