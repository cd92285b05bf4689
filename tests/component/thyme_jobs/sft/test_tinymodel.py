"""The tiny model directory: complete, deterministic per seed, and quick to load and generate with an image."""

from __future__ import annotations

import time

import torch

from thyme_jobs import tinymodel
from thyme_jobs.modelio.processor import load_processor


def test_same_seed_same_files_other_seed_other_weights(tmp_path, tiny_model_dir):
    again = tinymodel.build(tmp_path / "again", seed=0)
    other = tinymodel.build(tmp_path / "other", seed=1)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "preprocessor_config.json"):
        assert (again / name).read_bytes() == (tiny_model_dir / name).read_bytes(), name
    assert (other / "model.safetensors").read_bytes() != (again / "model.safetensors").read_bytes()


def test_loads_and_generates_32_tokens_with_an_image_in_under_a_second(tiny_model_dir):
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # contention on a shared CPU costs a tiny model more than a thread gains
    try:
        start = time.perf_counter()
        processor = load_processor(tiny_model_dir)
        model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval()
        msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]}]
        text = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        inputs = processor(text=[text], images=[Image.new("RGB", (56, 56), (200, 30, 30))], return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=32, min_new_tokens=32, do_sample=False)
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(before)
    assert out.shape[1] - inputs["input_ids"].shape[1] == 32
    assert inputs["input_ids"][0].tolist().count(processor.image_token_id) == 4
    assert seconds < 3.0, f"load + generate took {seconds:.2f}s (about 0.35 s on an idle core)"
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_tokenizer_has_chat_vision_and_thyme_tokens(tiny_model_dir):
    tok = load_processor(tiny_model_dir).tokenizer
    for t in tinymodel.SPECIAL_TOKENS + tinymodel.THYME_TAGS:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids[0]) == t, t
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
