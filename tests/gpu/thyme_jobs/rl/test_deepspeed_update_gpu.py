"""The DeepSpeed update on CUDA: NCCL ranks equal one process, and the stage in bf16 under ZeRO-3.

Skipped without CUDA (the gpu tier) and without deepspeed. The CPU versions of these
checks run in the component tier over gloo; here the same worker runs over NCCL on as
many GPUs as there are (at most two), and the whole stage runs once in bf16 with the
real transformers engine.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import torch

from thyme_jobs import store as stores
from thyme_jobs.agent.thyme_code import CodeResult

from component.thyme_jobs.rl.test_multi_rank_update import WORKER, free_port, single_process_weights, torchrun_env
from component.thyme_jobs.rl.test_stage import config, make_run_root

pytestmark = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="deepspeed is not installed")


@pytest.mark.parametrize("kind", ["plain", "zero2", "zero3"])
def test_nccl_ranks_update_like_one_process(kind, tmp_path) -> None:
    nproc = min(2, torch.cuda.device_count())
    env = torchrun_env()
    for cpu_only in ("DS_ACCELERATOR", "CUDA_VISIBLE_DEVICES"):  # the component tier's CPU settings
        env.pop(cpu_only)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
         str(free_port()), str(WORKER), kind, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    want = single_process_weights("cuda")
    for rank in range(nproc):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        for name, value in want.items():
            torch.testing.assert_close(got["weights"][name], value, rtol=0, atol=1e-4)  # cuDNN GRU, reduction order


class FailingRunner:
    """Code the random model writes fails in a scripted way: the sandbox is not under test here."""

    async def run(self, trajectory_id: str, code: str, image: bytes | None) -> CodeResult:
        return CodeResult("error", error="no sandbox in the gpu tier")

    async def close(self, trajectory_id: str) -> None:
        pass


def test_stage_in_bf16_under_zero3_resumes_and_exports_bf16_weights(tmp_path, monkeypatch) -> None:
    from thyme_jobs import tinymodel
    from thyme_jobs.rl import main as rl_main

    monkeypatch.setenv("LOCAL_RANK", "0")
    root = make_run_root(tmp_path / "run", tinymodel.build(tmp_path / "model"), _photo())
    run = stores.open_store(str(root))
    assert rl_main.run_stage(config(root, "http://unused:1", None, steps=1, deepspeed="zero3",
                                    engine="transformers"), runner=FailingRunner()) == 0
    run.delete("rl/manifest.json")
    assert rl_main.run_stage(config(root, "http://unused:1", None, steps=2, deepspeed="zero3",
                                    engine="transformers"), runner=FailingRunner()) == 0
    manifest = stores.get_json(run, "rl/manifest.json")
    assert manifest["steps"] == 2 and manifest["update"]["stage"] == "zero3"
    final = stores.get_json(run, "rl/final/config.json")
    assert final.get("dtype", final.get("torch_dtype")) == "bfloat16"


def _photo() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.linear_gradient("L").resize((320, 240)).convert("RGB").save(out, "JPEG")
    return out.getvalue()
