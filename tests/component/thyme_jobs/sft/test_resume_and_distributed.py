"""`thyme sft` as real processes: killed with SIGKILL and restarted, and two gloo ranks under torchrun."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from testenv.processes import free_port  # torchrun's static rendezvous needs a real port, not 0
from thyme_jobs import store as stores

from unit.thyme_jobs.sft import sft_fixtures

PY = sft_fixtures.PYTHON


def _checkpoint_steps(root: stores.ArtifactStore) -> list[int]:
    return sorted(int(k.split("/")[2]) for k in root.list("sft/checkpoints") if k.endswith("/manifest.json"))


def test_killed_run_resumes_at_its_newest_checkpoint_and_finishes(local_run, tmp_path):
    root = local_run.child("runs/ns/r")
    # 4 rows x 4 epochs at batch 1 -> 16 steps, a checkpoint every 2
    cfg = sft_fixtures.sft_config(local_run, tmp_path / "work",
                                  phases=[{"splits": sft_fixtures.SPLITS, "learning_rate": 1e-3, "epochs": 4}])
    env = sft_fixtures.cli_env(cfg)
    first = subprocess.Popen([PY, "-m", "thyme_cli.main", "sft"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while not _checkpoint_steps(root) or _checkpoint_steps(root)[-1] < 4:
        assert first.poll() is None, f"the run ended before it could be killed:\n{first.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, "no checkpoint at step 4 within 240 s"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    first.stdout.close()
    assert first.returncode == -signal.SIGKILL
    assert not root.exists("sft/manifest.json")
    newest = _checkpoint_steps(root)[-1]
    assert newest < 16, "killed too late to test resuming"

    second = subprocess.run([PY, "-m", "thyme_cli.main", "sft"], env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"resuming from checkpoint step {newest} " in second.stderr
    manifest = stores.get_json(root, "sft/manifest.json")
    assert manifest["steps"] == 16
    # the resumed Trainer started at the checkpoint's step: its first logged step is the next one
    state = json.loads(root.get_bytes(f"sft/checkpoints/{16:08d}/trainer_state.json"))
    steps_logged = [e["step"] for e in state["log_history"] if "loss" in e]
    assert steps_logged == list(range(1, 17))  # history restored from the checkpoint, then extended
    assert _checkpoint_steps(root)[-1] == 16

    # a third start finds the commit point and exits at once
    third = subprocess.run([PY, "-m", "thyme_cli.main", "sft"], env=env, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0 and "the SFT stage is done" in third.stderr


def test_two_gloo_processes_train_together(local_run, tmp_path):
    root = local_run.child("runs/ns/r")
    cfg = sft_fixtures.sft_config(local_run, tmp_path / "work", save_steps=1)
    env = sft_fixtures.cli_env(cfg, {"MASTER_ADDR": "127.0.0.1"})
    done = subprocess.run(
        [PY, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
         "-m", "thyme_cli.main", "sft"],
        env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    manifest = stores.get_json(root, "sft/manifest.json")
    assert manifest["world_size"] == 2
    # 4 rows over 2 ranks at batch 1 -> 2 steps, each rank on its own half
    assert manifest["steps"] == 2
    assert _checkpoint_steps(root) == [1, 2]
    assert root.exists("sft/final/model.safetensors")
