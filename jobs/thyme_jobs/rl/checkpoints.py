"""RL checkpoints in the artifact store: `rl/checkpoints/<step>/`, manifest written last.

A checkpoint holds what resuming needs: the policy as an HF model directory (`model/`,
which is also what people can load; ZeRO-3 gathers its shards for it), `trainer.pt`
with the loop's counters and the plain optimizer's state, and with DeepSpeed the
engine's own files under `deepspeed/` (each rank's optimizer partition). The upload and
the manifest follow `modelio.checkpoints` (the rule SFT uses too): a directory without
`manifest.json` is a save that died and is ignored; the first process of every machine
uploads what its ranks wrote to local disk, then rank 0 commits. The reference model is
not saved: it is the stage's starting model, fetched again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from thyme_jobs import store as stores
from thyme_jobs.rl import ranks
from thyme_jobs.modelio import checkpoints as store_checkpoints

CHECKPOINTS = "rl/checkpoints"
MANIFEST = "manifest.json"
TRAINER_STATE = "trainer.pt"
MODEL = "model"


def checkpoint_key(step: int) -> str:
    return store_checkpoints.checkpoint_key(CHECKPOINTS, step)


def save(store: stores.ArtifactStore, step: int, update: Any, processor: Any, loop: dict[str, Any],
         scratch: Path, world: ranks.World) -> str:
    """Write the checkpoint of `step` and commit it; returns its key. Every rank calls it."""
    local = scratch / f"ckpt-{step:08d}"
    if world.is_node_main:
        shutil.rmtree(local, ignore_errors=True)
    ranks.barrier(world)
    save_model(update, processor, local / MODEL, world)
    state = update.save(local)  # DeepSpeed: every rank writes its partition here
    if world.is_main:
        torch.save({"loop": loop, "update": update.describe(), **state}, local / TRAINER_STATE)
    ranks.barrier(world)
    prefix = checkpoint_key(step)
    if world.is_node_main:
        store_checkpoints.upload_dir(store, local, prefix)
    ranks.barrier(world)
    if world.is_main:
        store_checkpoints.commit(store, prefix, {"step": step, "stage": "rl", "world_size": world.size,
                                               "update": update.describe()})
    if world.is_node_main:
        shutil.rmtree(local, ignore_errors=True)
    ranks.barrier(world)
    return prefix


def save_model(update: Any, processor: Any, out: Path, world: ranks.World) -> Path:
    """The policy as an HF model directory, written by rank 0 (a collective under ZeRO-3)."""
    state_dict = update.export_state_dict()
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
        update.model.save_pretrained(out, state_dict=state_dict)
        processor.save_pretrained(out)
    return out


def newest_complete(store: stores.ArtifactStore) -> dict[str, Any] | None:
    """The manifest of the highest-step committed checkpoint whose files are all there."""
    return store_checkpoints.newest_complete(store, CHECKPOINTS)


def download(store: stores.ArtifactStore, manifest: dict[str, Any], local: Path) -> Path:
    """Fetch a committed checkpoint into `local` (on each machine's first rank); returns `local`."""
    return store_checkpoints.download(store, manifest, local, CHECKPOINTS)


def trainer_state(local: Path) -> dict[str, Any]:
    return torch.load(local / TRAINER_STATE, map_location="cpu", weights_only=False)
