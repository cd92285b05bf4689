"""Checkpoints and model directories in the artifact store: upload, commit, find the newest, fetch.

A checkpoint is `<root>/<step>/` (`sft/checkpoints/...`, `rl/checkpoints/...`): the files
a stage wrote (for SFT the transformers Trainer's weights, optimizer, scheduler, RNG
states, trainer_state.json; with DeepSpeed its per-rank shards) and, written last,
`manifest.json`. The manifest is the commit point: a directory without one is a save
that died half-way and is ignored on resume (and overwritten by the next save of that
step). `<step>` is zero-padded so a listing sorts by step. A finished model
(`sft/final/`, `rl/final/`) is an HF model directory committed the same way.

In a multi-node run each node writes its own ranks' files to its local disk, so the
first process of every node uploads what it has; after a barrier the global rank 0
writes the manifest listing every file that arrived.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from thyme_jobs import store as stores

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def checkpoint_key(root: str, step: int) -> str:
    # zero-padded so a plain listing sorts by step
    return stores.join(root, f"{step:08d}")


def upload_dir(store: stores.ArtifactStore, local: Path, prefix: str) -> list[str]:
    """Put every file under `local` at `prefix/<relative path>`; returns the relative paths."""
    names = []
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        rel = path.relative_to(local).as_posix()
        store.put_file(stores.join(prefix, rel), path)
        names.append(rel)
    return names


def commit(store: stores.ArtifactStore, prefix: str, manifest: dict[str, Any]) -> None:
    """Write `prefix/manifest.json` listing the files now under `prefix` (call it last)."""
    files = sorted(k[len(prefix) + 1:] for k in store.list(prefix) if not k.endswith("/" + MANIFEST))
    stores.put_json(store, stores.join(prefix, MANIFEST), {**manifest, "files": files, "committed_at": time.time()})


def newest_complete(store: stores.ArtifactStore, root: str) -> dict[str, Any] | None:
    """The manifest of the highest-step checkpoint under `root` that has one and whose
    listed files are all there, or None."""
    best: dict[str, Any] | None = None
    for key in store.list(root):
        if not key.endswith("/" + MANIFEST):
            continue
        manifest = stores.get_json(store, key)
        if not _all_files_present(store, key.rsplit("/", 1)[0], manifest):
            log.warning("checkpoint %s lists files that are missing; skipping it", key)
            continue
        if best is None or manifest["step"] > best["step"]:
            best = manifest
    return best


def _all_files_present(store: stores.ArtifactStore, prefix: str, manifest: dict[str, Any]) -> bool:
    have = {k[len(prefix) + 1:] for k in store.list(prefix)}
    return all(f in have for f in manifest.get("files", []))


def download(store: stores.ArtifactStore, manifest: dict[str, Any], local: Path, root: str) -> Path:
    """Fetch a committed checkpoint's files into `local` (a stage resumes from there)."""
    prefix = checkpoint_key(root, manifest["step"])
    for rel in manifest["files"]:
        store.get_file(stores.join(prefix, rel), local / rel)
    return local


def download_model(store: stores.ArtifactStore, local: Path) -> Path:
    """Copy an HF model directory from a store (the `model` URI's root) to `local`."""
    n = 0
    for key in store.list(""):
        if key.rsplit("/", 1)[-1] == MANIFEST and "/" not in key:
            continue  # our own commit file next to the weights is not part of the model
        store.get_file(key, local / key)
        n += 1
    if not (local / "config.json").is_file():
        raise FileNotFoundError(f"{store.location()} holds no config.json ({n} files): `model` must point "
                                "at an HF model directory (e.g. one made by `thyme tiny-model` and uploaded)")
    return local


def fetch_model(run: stores.ArtifactStore, model: str, local: Path) -> Path:
    """`model` is a key under the run root (e.g. sft/final) or any store URI/path."""
    if "://" in model or model.startswith("/"):
        source = stores.open_store(model, read_only=True)   # an input: never create its bucket
    else:
        source = run.child(model)
    return download_model(source, local)
