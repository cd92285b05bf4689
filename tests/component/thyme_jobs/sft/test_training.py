"""Real training steps of the tiny Qwen2.5-VL on CPU, and the stage's artifacts."""

from __future__ import annotations

import io

import pytest
import torch

from thyme_jobs import store as stores
from thyme_jobs.modelio import freezing
from thyme_jobs.sft import config, data, main, masking, train
from thyme_jobs.modelio.processor import load_processor

from unit.thyme_jobs.sft import sft_fixtures


@pytest.fixture(autouse=True)
def one_thread():
    # a tiny model on a shared 2-core machine runs far faster on one thread than on two that contend
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _fixed_batch(model_dir):
    from PIL import Image

    processor = load_processor(model_dir)
    enc = data.Encoder(processor, "Think with images.", 2048, "last", 3136, 112 * 112)
    items = []
    for split, rows in sft_fixtures.rows_by_split().items():
        row = {**rows[0], "id": split, "images": ["x"] * rows[0]["n_images"]}
        imgs = [Image.open(io.BytesIO(sft_fixtures.jpeg((30 * k, 90, 200), k))).convert("RGB")
                for k in range(rows[0]["n_images"])]
        items.append(enc.encode(row, imgs))
    return data.collate(items, processor.tokenizer.pad_token_id)


def test_steps_lower_the_loss_and_masked_positions_get_no_gradient(tiny_model_dir):
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir, dtype=torch.float32)
    freezing.freeze_vision(model)
    batch = _fixed_batch(tiny_model_dir)
    vision_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainable_before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert vision_before and trainable_before

    # one step, watching the gradient that reaches the logits
    out = model(**batch)
    out.logits.retain_grad()
    out.loss.backward()
    grad = out.logits.grad  # [batch, seq, vocab]; position t predicts token t+1
    predicts_masked = torch.nn.functional.pad(batch["labels"][:, 1:], (0, 1), value=masking.IGNORE_INDEX)
    no_loss = predicts_masked == masking.IGNORE_INDEX
    assert grad[no_loss].abs().max() == 0
    assert grad[~no_loss].abs().sum(-1).min() > 0
    model.zero_grad()

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(12):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.75 * losses[0], losses
    for n, p in model.named_parameters():
        if n in vision_before:
            assert torch.equal(p, vision_before[n]), f"frozen vision parameter {n} changed"
        elif n in trainable_before and n.endswith("weight") and "norm" not in n:
            assert not torch.equal(p, trainable_before[n]), f"trainable parameter {n} did not change"


def test_stage_writes_final_model_metrics_and_manifest_then_skips(local_run, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from transformers import AutoModelForImageTextToText

    cfg = config.SFTConfig.model_validate(sft_fixtures.sft_config(
        local_run, tmp_path / "work", save_steps=3, max_steps=5,
        phases=[{"splits": sft_fixtures.SPLITS, "learning_rate": 1e-3, "epochs": 1},
                {"splits": ["computation"], "learning_rate": 1e-4, "epochs": 2}]))
    manifest = main.run(cfg)
    root = local_run.child("runs/ns/r")
    assert stores.get_json(root, "sft/manifest.json") == manifest
    # phase 0: 4 rows, batch 1 -> 4 steps; phase 1: 2 rows x 2 epochs, capped at 5 - 4 = 1 step
    assert manifest["steps"] == 5
    assert [p["steps"] for p in manifest["phases"]] == [4, 1]
    assert manifest["final_loss"] > 0 and manifest["tokens_per_second"] > 0
    assert 0.5 < manifest["masked_fraction"] < 1
    # checkpoints: every 3 steps and at each phase end, each committed by its manifest
    assert sorted(k.split("/")[2] for k in root.list("sft/checkpoints") if k.endswith("manifest.json")) == [
        "00000003", "00000004", "00000005"]
    assert root.exists("sft/final/manifest.json")

    final = tmp_path / "final"
    for key in root.list("sft/final"):
        root.get_file(key, final / key[len("sft/final/"):])
    processor = load_processor(final)
    model = AutoModelForImageTextToText.from_pretrained(final)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Color?"}]}]
    text = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    from PIL import Image

    inputs = processor(text=[text], images=[Image.new("RGB", (56, 56), (10, 200, 10))], return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]

    events = tmp_path / "events"
    for key in root.list("sft/tensorboard/phase0"):
        root.get_file(key, events / key.rsplit("/", 1)[-1])
    acc = EventAccumulator(str(events))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/learning_rate", "train/tokens_per_second", "train/masked_fraction"} <= tags
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4]

    assert main.run(cfg) is None  # the manifest is the commit point: a rerun does nothing


def test_overlong_rows_are_skipped_and_reported(local_run, tmp_path):
    # the 2round rows are the longest (3 images, two code blocks: 642 tokens); single-round ones are 532
    cfg = config.SFTConfig.model_validate(sft_fixtures.sft_config(
        local_run, tmp_path / "work", max_length=600, save_steps=100))
    manifest = main.run(cfg)
    skipped = manifest["skipped_rows"]
    assert skipped["overlong"] == 2 and skipped["malformed"] == 0
    assert all(i.startswith("2round/") for i in skipped["ids"])
    assert manifest["steps"] == 4  # every slot still trained: a skipped row's slot went to a row that fits
