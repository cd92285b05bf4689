"""SFT training throughput: tokens/s and model FLOPs utilisation (MFU). Run on demand, never in CI.

    # CPU, the tiny model (compare later changes against the number in the issue's closing note)
    python tests/bench/bench_sft.py --shape tiny
    # one GPU, a Qwen2.5-VL-7B-shaped model with random weights, bf16, flash-attn when installed
    python tests/bench/bench_sft.py --shape 7b --seq 4096 --steps 10

A step is one forward + backward + AdamW step on a batch of one row: one 448x448 image
(256 visual tokens) followed by text up to `--seq` tokens, every text token learned, the
vision tower frozen as in the reference recipe. MFU counts 6 FLOPs per trainable parameter
per token plus 2 per frozen one (forward only) and the causal attention term
(6 * layers * seq * hidden per token: QK^T and AV, forward and backward, halved by the mask),
over the device's dense bf16 peak (`--peak-tflops`, default: 989 for H100/H200 SXM).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time

import torch


def qwen25_vl_7b_config(vocab_size: int):
    """Qwen2.5-VL-7B's published shape (config.json of the release), random weights."""
    from transformers import Qwen2_5_VLConfig

    return Qwen2_5_VLConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                         num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=128000,
                         rope_theta=1_000_000.0, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
                         tie_word_embeddings=False),
        vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                           fullatt_block_indexes=[7, 15, 23, 31]),
        image_token_id=151655, video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=["tiny", "7b"], default="tiny")
    ap.add_argument("--seq", type=int, default=None, help="tokens per row (default 512 tiny, 4096 7b)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (tiny on a shared CPU: 1)")
    args = ap.parse_args()

    from transformers import Qwen2_5_VLForConditionalGeneration

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if not cuda:
        torch.set_num_threads(args.threads)
    if args.shape == "tiny":
        import tempfile

        from thyme_jobs import tinymodel

        path = tinymodel.build(tempfile.mkdtemp(prefix="bench-tiny-"))
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            path, dtype=torch.bfloat16 if cuda else torch.float32, attn_implementation="sdpa")
        seq, image_side = args.seq or 512, 56
    else:
        if not cuda:
            raise SystemExit("--shape 7b needs a GPU")
        attn = "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"
        config = qwen25_vl_7b_config(152064)
        config._attn_implementation = attn
        torch.set_default_dtype(torch.bfloat16)
        with torch.device("cuda"):
            model = Qwen2_5_VLForConditionalGeneration._from_config(config, attn_implementation=attn,
                                                                    dtype=torch.bfloat16)
        torch.set_default_dtype(torch.float32)
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        seq, image_side = args.seq or 4096, 448
    model.to(device).train()
    cfg = model.config
    visual = model.model.visual
    for p in visual.parameters():
        p.requires_grad_(False)

    # one image: (side/14)^2 patches, merged 2x2 into visual tokens
    grid = image_side // 14
    n_vis = grid * grid // 4
    patch_dim = 3 * 2 * 14 * 14
    pixel_values = torch.randn(grid * grid, patch_dim, device=device, dtype=model.dtype)
    image_grid_thw = torch.tensor([[1, grid, grid]], device=device)
    text_len = seq - n_vis - 2
    vocab = cfg.text_config.vocab_size
    ids = torch.randint(20, min(vocab, 1000), (1, seq), device=device)  # clear of special and image ids
    ids[0, 0], ids[0, n_vis + 1] = cfg.vision_start_token_id, cfg.vision_end_token_id
    ids[0, 1:n_vis + 1] = cfg.image_token_id
    labels = ids.clone()
    labels[0, :n_vis + 2] = -100
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=cuda)

    def step() -> float:
        loss = model(input_ids=ids, labels=labels, pixel_values=pixel_values, image_grid_thw=image_grid_thw).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()  # .item() syncs with the GPU, so the timer below measures finished work

    for _ in range(args.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    seconds = time.perf_counter() - start
    tokens_per_second = seq * args.steps / seconds

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    tc = cfg.text_config
    flops_per_token = 6 * trainable + 2 * frozen * n_vis / seq + 6 * tc.num_hidden_layers * seq * tc.hidden_size
    peak = args.peak_tflops or (989.0 if cuda else None)
    result = {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "shape": args.shape, "seq": seq, "visual_tokens": n_vis, "text_tokens": text_len,
        "dtype": str(model.dtype), "attn": cfg._attn_implementation,
        "trainable_params": trainable, "frozen_params": frozen,
        "steps": args.steps, "seconds": round(seconds, 3), "tokens_per_second": round(tokens_per_second, 1),
        "model_tflops_per_second": round(flops_per_token * tokens_per_second / 1e12, 3),
        "mfu": round(flops_per_token * tokens_per_second / (peak * 1e12), 4) if peak else None,
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "final_loss": round(loss, 4),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
