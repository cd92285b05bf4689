"""The SFT stage on a CUDA device: bf16, and the same loss as fp32 at the first step (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch

from thyme_jobs import store as stores
from thyme_jobs import tinymodel
from thyme_jobs.sft import config, main

from unit.thyme_jobs.sft import sft_fixtures


@pytest.fixture
def gpu_run(tmp_path):
    store = stores.open_store(str(tmp_path / "store"))
    sft_fixtures.upload_model(tinymodel.build(tmp_path / "model"), store)
    sft_fixtures.write_converted(store.child("runs/ns/r"), copies=2)
    return store


def test_stage_trains_in_bf16_on_the_gpu(gpu_run, tmp_path):
    cfg = config.SFTConfig.model_validate(sft_fixtures.sft_config(gpu_run, tmp_path / "work", max_steps=4,
                                                                  gradient_checkpointing=True))
    manifest = main.run(cfg)
    assert manifest["steps"] == 4 and manifest["final_loss"] > 0
    final = stores.get_json(gpu_run.child("runs/ns/r"), "sft/final/config.json")
    assert final.get("dtype", final.get("torch_dtype")) == "bfloat16"


def test_bf16_loss_matches_fp32_at_the_start(tmp_path):
    from transformers import AutoModelForImageTextToText

    path = tinymodel.build(tmp_path / "model")
    ids = torch.randint(20, 900, (2, 64), device="cuda")
    losses = {}
    for dtype in (torch.float32, torch.bfloat16):
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype).cuda()
        with torch.no_grad():
            losses[dtype] = model(input_ids=ids, labels=ids).loss.float().item()
    assert losses[torch.bfloat16] == pytest.approx(losses[torch.float32], rel=2e-2)
