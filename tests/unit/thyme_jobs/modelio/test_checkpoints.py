"""Checkpoint commit and discovery in a local store: the manifest is the commit point."""

from __future__ import annotations

from thyme_jobs import store as stores
from thyme_jobs.modelio import checkpoints

ROOT = "sft/checkpoints"


def _save(store, local, step, commit=True):
    local.mkdir(parents=True, exist_ok=True)
    (local / "model.safetensors").write_bytes(b"w" * step)
    (local / "optimizer.pt").write_bytes(b"o")
    prefix = checkpoints.checkpoint_key(ROOT, step)
    checkpoints.upload_dir(store, local, prefix)
    if commit:
        checkpoints.commit(store, prefix, {"step": step, "phase": 0, "phase_step": step, "phase_done": False})


def test_newest_complete_ignores_a_save_without_manifest(tmp_path):
    store = stores.open_store(str(tmp_path / "s"))
    assert checkpoints.newest_complete(store, ROOT) is None
    _save(store, tmp_path / "a", 2)
    _save(store, tmp_path / "b", 10)
    _save(store, tmp_path / "c", 12, commit=False)  # died before its manifest
    newest = checkpoints.newest_complete(store, ROOT)
    assert newest["step"] == 10 and newest["files"] == ["model.safetensors", "optimizer.pt"]


def test_a_checkpoint_missing_a_listed_file_is_skipped_and_download_restores_files(tmp_path):
    store = stores.open_store(str(tmp_path / "s"))
    _save(store, tmp_path / "a", 2)
    _save(store, tmp_path / "b", 4)
    store.delete(stores.join(checkpoints.checkpoint_key(ROOT, 4), "optimizer.pt"))
    newest = checkpoints.newest_complete(store, ROOT)
    assert newest["step"] == 2
    out = checkpoints.download(store, newest, tmp_path / "restore", ROOT)
    assert (out / "model.safetensors").read_bytes() == b"ww"


def test_steps_sort_as_keys():
    assert checkpoints.checkpoint_key(ROOT, 9) < checkpoints.checkpoint_key(ROOT, 10)
