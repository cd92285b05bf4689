"""Fixtures for the convert stage's component tests: a small synthetic dump and a way to run the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from thyme_jobs.convert import synthetic

REPO = Path(__file__).resolve().parents[4]


@dataclass(frozen=True)
class Dump:
    path: Path
    counts: dict[str, int]
    corrupt: dict[str, list[int]]


@pytest.fixture(scope="session")
def small_dump(tmp_path_factory: pytest.TempPathFactory) -> Dump:
    """30 rows over three splits, two parquet files per split, small images, ~12% images broken."""
    out = tmp_path_factory.mktemp("dump")
    synthetic.write_dump(out, synthetic.SynthSpec(rows=30, shards=2, min_side=160, max_side=420, corrupt=0.12, seed=7))
    return Dump(out, json.loads((out / "counts.json").read_text()), json.loads((out / "corrupt.json").read_text()))


@pytest.fixture(scope="session")
def slow_dump(tmp_path_factory: pytest.TempPathFactory) -> Dump:
    """Fewer rows but photo-sized images: converting it takes seconds, so a test can kill it mid-way.

    The small dump converts in a fraction of a second once reading runs ahead of decoding,
    which leaves no moment between the first and the last shard's commit to interrupt.
    """
    out = tmp_path_factory.mktemp("slow-dump")
    synthetic.write_dump(out, synthetic.SynthSpec(rows=18, shards=2, min_side=700, max_side=1100, corrupt=0.1, seed=11))
    return Dump(out, json.loads((out / "counts.json").read_text()), json.loads((out / "corrupt.json").read_text()))


def thyme(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real `thyme` entry point in a fresh process, as a pod or a user would."""
    done = subprocess.run([sys.executable, "-m", "thyme_cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=REPO, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"thyme {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-4000:]}")
    return done


def popen_thyme(*args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `thyme` in its own process group, so `kill_group` takes its workers too (as a pod kill does)."""
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "thyme_cli.main", *args], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=REPO,
                                start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
