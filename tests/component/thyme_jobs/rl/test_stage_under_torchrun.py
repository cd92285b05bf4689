"""`thyme rl` as real processes under torchrun: shared steps, rank-0 writes, checkpoint resume.

The ranks roll out against the real sandbox (runsc) and the scripted judge, both served
from this test process on loopback ports. The plain update always runs; the DeepSpeed
runs need the deepspeed package (CPU accelerator, gloo): ZeRO-2 over two ranks, and
ZeRO-3 in one process (over several, ZeRO-3 needs the vLLM engine, see `main._prepare`),
where its sharded weights must still come out whole in rl/final.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from thyme_jobs import store as stores

from .test_multi_rank_update import DEEPSPEED, free_port, torchrun_env
from .test_stage import config, make_run_root


def thyme_rl_under_torchrun(cfg, nproc: int = 2) -> subprocess.CompletedProcess:
    env = torchrun_env({"THYME_STAGE_CONFIG": cfg.model_dump_json()})
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", str(free_port()),
         "-m", "thyme_cli.main", "rl"],
        env=env, capture_output=True, text=True, timeout=400)


def checkpoint_files(run: stores.ArtifactStore, step: int) -> list[str]:
    return stores.get_json(run, f"rl/checkpoints/{step:08d}/manifest.json")["files"]


@pytest.mark.parametrize("deepspeed", [None, pytest.param("zero2", marks=DEEPSPEED)])
def test_two_ranks_share_each_step_and_resume(deepspeed, tmp_path, tiny_model_dir, photo, sandbox_url, judge) -> None:
    root = make_run_root(tmp_path / "run", tiny_model_dir, photo, n_rows=4)
    run = stores.open_store(str(root))
    # 2 prompts per step, one per rank, 2 generations each
    options = dict(batch_size=2, keep_rollouts=8, deepspeed=deepspeed)
    first = thyme_rl_under_torchrun(config(root, sandbox_url, judge.endpoint, steps=1, **options))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    step1 = run.get_bytes("rl/rollouts/00000001.jsonl")
    records = [json.loads(x) for x in step1.decode().splitlines()]
    # both ranks' groups, in step order, written once (by rank 0)
    assert [r["id"].split("-")[1] for r in records] == ["p0", "p0", "p1", "p1"]
    assert len({r["row_id"] for r in records}) == 2 and all(r["rewards"] is not None for r in records)
    files = checkpoint_files(run, 1)
    assert "model/model.safetensors" in files and "trainer.pt" in files
    if deepspeed:  # each rank's optimizer partition is in the store
        assert {f for f in files if "zero_pp_rank_" in f and f.endswith("optim_states.pt")} == {
            f"deepspeed/state/zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in range(2)}

    run.delete("rl/manifest.json")
    second = thyme_rl_under_torchrun(config(root, sandbox_url, judge.endpoint, steps=2, **options))
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "resuming from step 1" in second.stderr
    assert run.get_bytes("rl/rollouts/00000001.jsonl") == step1  # step 1 was not redone
    manifest = stores.get_json(run, "rl/manifest.json")
    assert manifest["steps"] == 2 and manifest["trajectories_scored"] == 8 and manifest["world_size"] == 2
    assert manifest["update"]["kind"] == ("deepspeed" if deepspeed else "plain")
    assert run.exists("rl/final/model.safetensors") and stores.get_json(run, "rl/status.json")["state"] == "done"
    assert len(run.get_bytes("rl/rollouts/00000002.jsonl").decode().splitlines()) == 4


@DEEPSPEED
def test_zero3_in_one_process_exports_whole_weights_and_resumes(tmp_path, tiny_model_dir, photo, sandbox_url,
                                                                 judge) -> None:
    from safetensors.torch import load_file

    root = make_run_root(tmp_path / "run", tiny_model_dir, photo)
    run = stores.open_store(str(root))
    cfg = config(root, sandbox_url, judge.endpoint, steps=1, deepspeed="zero3")
    first = thyme_rl_under_torchrun(cfg, nproc=1)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "deepspeed/state/zero_pp_rank_0_mp_rank_00_model_states.pt" in checkpoint_files(run, 1)
    run.delete("rl/manifest.json")
    second = thyme_rl_under_torchrun(config(root, sandbox_url, judge.endpoint, steps=2, deepspeed="zero3"), nproc=1)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "resuming from step 1" in second.stderr
    assert stores.get_json(run, "rl/manifest.json")["update"] == {"kind": "deepspeed", "stage": "zero3",
                                                                   "world_size": 1}
    # ZeRO-3 holds parameters as shards; the exported model has every tensor at full shape
    run.get_file("rl/final/model.safetensors", tmp_path / "final.safetensors")
    got, start = load_file(str(tmp_path / "final.safetensors")), load_file(str(tiny_model_dir / "model.safetensors"))
    assert {k: v.shape for k, v in got.items()} == {k: v.shape for k, v in start.items()}
    assert all(got[k].equal(start[k]) for k in start if ".visual." in f".{k}")  # the frozen tower
