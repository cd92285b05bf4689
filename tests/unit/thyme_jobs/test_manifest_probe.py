"""`thyme manifest-probe`: exit 0 only when the indexed stage's manifest is there; an
absent manifest and a store that cannot answer are both "not committed"."""

from __future__ import annotations

import argparse
import json

import pytest

from thyme_jobs import manifest_probe

MANIFESTS = ["data/manifest.json", "sft/manifest.json", "rl/manifest.json"]


def _probe(monkeypatch, run_root: str, index: int | None) -> int:
    monkeypatch.setenv("THYME_STAGE_CONFIG", json.dumps({"run_root": run_root, "manifests": MANIFESTS}))
    if index is None:
        monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    else:
        monkeypatch.setenv("JOB_COMPLETION_INDEX", str(index))
    return manifest_probe.run(argparse.Namespace(config=None))


@pytest.fixture
def run_root(tmp_path):
    root = tmp_path / "runs" / "ns" / "r"
    (root / "data").mkdir(parents=True)
    (root / "data" / "manifest.json").write_text("{}")
    return str(root)


def test_each_index_answers_for_its_stage(monkeypatch, run_root):
    assert _probe(monkeypatch, run_root, 0) == manifest_probe.COMMITTED
    assert _probe(monkeypatch, run_root, 1) == manifest_probe.ABSENT
    assert _probe(monkeypatch, run_root, None) == manifest_probe.ABSENT      # by hand: all of them


def test_a_store_that_cannot_answer_is_not_committed(monkeypatch, tmp_path):
    assert _probe(monkeypatch, str(tmp_path / "missing"), 0) == manifest_probe.UNKNOWN
    monkeypatch.setenv("THYME_STAGE_CONFIG", json.dumps({"run_root": str(tmp_path)}))
    assert manifest_probe.run(argparse.Namespace(config=None)) == manifest_probe.UNKNOWN
