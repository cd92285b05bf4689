"""RL checkpoints in the artifact store: `rl/checkpoints/<step>/`, manifest written last.

A checkpoint holds what resuming needs: the policy as an HF model directory (`model/`,
which is also what people can load), and `trainer.pt` with the optimizer state and the
loop's counters. The upload and the manifest reuse the SFT stage's helpers (same commit
rule: a directory without `manifest.json` is a save that died and is ignored). The
reference model is not saved: it is the stage's starting model, fetched again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from thyme_jobs import store as stores
from thyme_jobs.sft import checkpoints as sft_checkpoints

CHECKPOINTS = "rl/checkpoints"
MANIFEST = "manifest.json"
TRAINER_STATE = "trainer.pt"


def checkpoint_key(step: int) -> str:
    return stores.join(CHECKPOINTS, f"{step:08d}")  # zero-padded: a listing sorts by step


def save(
    store: stores.ArtifactStore, step: int, model: Any, processor: Any, state: dict[str, Any], scratch: Path
) -> str:
    """Write the checkpoint of `step` and commit it; returns its key."""
    local = scratch / f"ckpt-{step:08d}"
    shutil.rmtree(local, ignore_errors=True)
    save_model(model, processor, local / "model")
    torch.save(state, local / TRAINER_STATE)
    prefix = checkpoint_key(step)
    sft_checkpoints.upload_dir(store, local, prefix)
    sft_checkpoints.commit(store, prefix, {"step": step, "stage": "rl"})
    shutil.rmtree(local, ignore_errors=True)
    return prefix


def save_model(model: Any, processor: Any, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def newest_complete(store: stores.ArtifactStore) -> dict[str, Any] | None:
    """The manifest of the highest-step committed checkpoint whose files are all there."""
    return sft_checkpoints.newest_complete(store, CHECKPOINTS)


def download(store: stores.ArtifactStore, manifest: dict[str, Any], local: Path) -> tuple[Path, dict[str, Any]]:
    """Fetch a committed checkpoint; returns its model directory and trainer state."""
    prefix = checkpoint_key(manifest["step"])
    for rel in manifest["files"]:
        store.get_file(stores.join(prefix, rel), local / rel)
    state = torch.load(local / TRAINER_STATE, map_location="cpu", weights_only=False)
    return local / "model", state
