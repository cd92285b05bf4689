"""examples/openthinkimg.sh end to end, as the README runs it: a synthetic chart-QA dump, tiny
models, tool servers as local processes (CPU tools, Point on a tiny Qwen2.5-VL, SAM on a tiny
SAM), convert, then V-ToolRL rounds that reach the tools' protocol, to a committed rl stage."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RUN_ROOT = Path("thyme/openthinkimg/runs/local/openthinkimg")


def test_the_openthinkimg_example_runs_end_to_end(tmp_path):
    done = subprocess.run(["bash", str(ROOT / "examples/openthinkimg.sh")], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "THYME_STORE": str(tmp_path)}, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = tmp_path / RUN_ROOT
    assert json.loads((run / "data/chartqa/manifest.json").read_text())["rows"] == 8
    manifest = json.loads((run / "rl/manifest.json").read_text())
    assert manifest["steps"] == 2 and manifest["trajectories_scored"] == 8
    records = [json.loads(line) for line in (run / "rl/rollouts/00000001.jsonl").read_text().splitlines()]
    assert records and all(r["rewards"]["accuracy_source"] == "rule" and r["truth"].isdigit() for r in records)
    # A random policy writes no JSON: wherever its turn ended and the loop went on, the protocol
    # answered with its observation turn (which rounds end depends on the sampled text).
    for r in records:
        assert r["tool_calls"] == 0 and r["rewards"]["format"] == 0.0
        if r["rounds"] > 1:
            assert "OBSERVATION:\nYour reply could not be run" in r["completion"]
    # every tool server and the front ran as a local process with its own log
    logs = {p.name for p in (tmp_path / "logs" / "openthinkimg").iterdir()}
    assert {f"openthinkimg-tool-{short}.log" for short in ("crop", "hline", "zoom", "point", "sam")} <= logs
    assert "openthinkimg-tools.log" in logs
