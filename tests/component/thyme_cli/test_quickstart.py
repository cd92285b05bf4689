"""The quickstart, end to end, exactly as the README runs it (`examples/quickstart.sh`):
synthetic data and benchmark, a tiny model, convert -> sft -> rl -> eval as local
processes with a real runsc-isolated sandbox, then the summary with the eval table. A second run must continue, not redo."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
RUN_ROOT = Path("thyme/quickstart/runs/local/quickstart")


def quickstart(store: Path, *args: str, script: str = "examples/quickstart.sh") -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / script), *args], cwd=ROOT, env={**os.environ, "THYME_STORE": str(store)},
                          capture_output=True, text=True, timeout=900)


def summary(stdout: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z ]+?):\s+(.*)$", stdout, flags=re.M))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    store = tmp_path_factory.mktemp("quickstart")
    started = time.monotonic()
    done = quickstart(store)
    return store, done, time.monotonic() - started


def test_quickstart_runs_end_to_end_and_prints_its_summary(first_run, runsc):
    store, done, seconds = first_run
    # no wall-time assertion: on a shared machine it measures the neighbours; the run's own
    # timeout (quickstart()) bounds it, and the README quotes a measured time
    assert done.returncode == 0, f"after {seconds:.0f}s: " + done.stdout[-3000:] + done.stderr[-5000:]
    lines = summary(done.stdout)
    root = store / RUN_ROOT
    assert lines["artifacts"] == str(root)

    converted, rejected = re.match(r"(\d+) \(rejected: (\d+)\)", lines["rows converted"]).groups()
    corrupt = json.loads((store / "thyme/datasets/quickstart/corrupt.json").read_text())
    assert int(rejected) == sum(len(rows) for rows in corrupt.values()) > 0
    counts = json.loads((store / "thyme/datasets/quickstart/counts.json").read_text())
    assert int(converted) + int(rejected) == sum(counts.values())

    sft_loss, reward = float(lines["SFT final loss"]), float(lines["RL mean reward"])
    assert math.isfinite(sft_loss) and 0 < sft_loss < 6
    assert math.isfinite(reward) and reward >= 0
    for key in ("data/manifest.json", "sft/manifest.json", "rl/manifest.json", "sft/final/config.json"):
        assert (root / key).is_file(), key
    assert json.loads((root / "sft/manifest.json").read_text())["steps"] > 0
    for name in ("sft curve", "rl curve", "eval chart"):
        png = Path(lines[name])
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the eval stage scored base, sft and rl on the synthetic V* set and the table was printed
    manifest = json.loads((root / "eval/manifest.json").read_text())
    assert manifest["checkpoints"] == ["base", "sft", "rl"]
    answers = json.loads((store / "thyme/benchmarks/quickstart/answers.json").read_text())["VStarBench"]
    for ckpt in manifest["checkpoints"]:
        results = json.loads((root / f"eval/{ckpt}/VStarBench/results.json").read_text())
        assert results["items"] == len(answers["answers"])
        assert [m["row"] for m in results["malformed_rows"]] == [b["row"] for b in answers["broken"]]
        assert 0.0 <= results["overall"] <= 1.0
    assert "evaluation (accuracy %):" in done.stdout
    assert re.search(r"^\| VStarBench \| Overall \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| 82\.2 \| 76\.4 \|$", done.stdout, re.M)


def test_a_second_run_continues_instead_of_redoing(first_run):
    store, done, _ = first_run
    assert done.returncode == 0
    root = store / RUN_ROOT
    before = (root / "sft/manifest.json").read_bytes()
    again = quickstart(store)
    assert again.returncode == 0, again.stderr[-3000:]
    for stage in ("convert", "sft", "rl", "eval"):
        assert f"stage {stage}: manifest already in the store; skipped" in again.stderr
    assert "StageRunning" not in again.stderr
    assert (root / "sft/manifest.json").read_bytes() == before
    assert summary(again.stdout)["SFT final loss"] == summary(done.stdout)["SFT final loss"]


def _run_broken(tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    """`thyme run` of the quickstart with `dataset.source` replaced and one retry allowed."""
    run = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    run["metadata"]["name"] = "broken"
    run["spec"]["dataset"]["source"] = source
    run["spec"]["stages"]["convert"]["retries"] = {"limit": 1, "backoffSeconds": 1}
    manifest = tmp_path / "broken.yaml"
    manifest.write_text(yaml.safe_dump(run))
    venv_thyme = Path(subprocess.run(["bash", str(ROOT / "tests/env/python-env.sh")], capture_output=True,
                                     text=True, check=True).stdout.strip()) / "bin" / "thyme"
    return subprocess.run([str(venv_thyme), "run", str(manifest), "--store", str(tmp_path / "store")],
                          capture_output=True, text=True, timeout=300)


def test_a_missing_dataset_fails_the_run_at_once_in_the_programs_own_words(tmp_path):
    done = _run_broken(tmp_path, "s3://thyme/datasets/does-not-exist")
    assert done.returncode == 1
    said = "datasets/does-not-exist' does not exist"
    err = " ".join(done.stderr.split())   # rich wraps and pads long lines
    assert "starting attempt 2" not in err and "BackingOff" not in err       # no retry can fix it
    assert "run failed at stage convert" in err
    assert "stage convert failed on attempt 1 with an error in its config or input, not retried" in err
    assert "exit code 64" in err and said in err
    log = tmp_path / "store/logs/broken/broken-convert-1.log"
    assert said in log.read_text()


def test_a_crashing_stage_is_retried_then_fails_the_run_naming_it(tmp_path):
    dump = tmp_path / "store/thyme/datasets/corrupt/data"
    dump.mkdir(parents=True)
    for split in yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())["spec"]["dataset"]["splits"]:
        (dump / f"{split}-00000-of-00001.parquet").write_bytes(b"not a parquet file")   # pyarrow raises: a crash
    done = _run_broken(tmp_path, "s3://thyme/datasets/corrupt")
    assert done.returncode == 1
    err = " ".join(done.stderr.split())   # rich wraps and pads long lines
    assert "attempt 1 failed" in err and "starting attempt 2" in err
    assert "run failed at stage convert" in err
    assert "stage convert failed after 2 attempt(s)" in err
    assert "convert failed; the last lines of" in err                       # the traceback, on the console
