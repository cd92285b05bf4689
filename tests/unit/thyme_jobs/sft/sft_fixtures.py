"""A small converted dataset in the convert stage's format, with real JPEGs, for SFT tests.

Three kinds of row, as in Thyme-SFT (research/thyme.md section 1.3):
- single-round: one code round whose sandbox output is an image;
- 2round: two code rounds, each returning an image (the last-round-only rule bites);
- computation: one code round whose sandbox output is text.
Images are 56x56 (4 visual tokens each for the tiny model), so a row is a few hundred tokens.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from thyme_jobs import store as stores

SPLITS = ["wo_thinking_thyme_single_round", "2round"]

SUFFIX = ('\n\n### User Image Path:** "/data/images/{name}.jpg"\n### User Image Size:** "56x56"\n\n'
          "### **Output Format (strict adherence required):**\n\n<think>...</think>\n<answer>...</answer>")

CODE = ("<code>\n```python\nfrom PIL import Image\nimage = Image.open(image_path)\n"
        "cropped = image.crop((0, 0, 28, 28)).resize((56, 56))\n"
        "processed_path = '/mnt/data/temp_processed_images/crop_{i}.jpg'\ncropped.save(processed_path)\n"
        "print(processed_path)\n```\n</code>")


def jpeg(color: tuple[int, int, int], seed: int) -> bytes:
    img = Image.new("RGB", (56, 56), color)
    draw = ImageDraw.Draw(img)
    draw.rectangle((seed % 20, 8, 30 + seed % 20, 40), fill=(255 - color[0], 255 - color[1], 255 - color[2]))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def rows_by_split() -> dict[str, list[dict]]:
    single = {
        "question": "<image>\nWhat color is the square in the corner?" + SUFFIX.format(name="s0"),
        "response": ("<think>The corner is small, so I will crop it and enlarge it." + CODE.format(i=0)
                     + "<sandbox_output><image></sandbox_output>The crop shows a red square.</think>\n"
                     "<answer>red</answer>"),
        "n_images": 2,
    }
    two = {
        "question": "<image>\nWhat is written on the sign?" + SUFFIX.format(name="t0"),
        "response": ("<think>I crop the sign first." + CODE.format(i=1)
                     + "<sandbox_output><image></sandbox_output>Still too small, crop again." + CODE.format(i=2)
                     + "<sandbox_output><image></sandbox_output>Now the text reads STOP.</think>\n"
                     "<answer>STOP</answer>"),
        "n_images": 3,
    }
    comp = {
        "question": "<image>\nWhat fraction of the bars are blue?" + SUFFIX.format(name="c0"),
        "response": ("<think>Two of three bars are blue.<code>\n```python\nprint(round(2 / 3, 4))\n```\n</code>"
                     "<sandbox_output>0.6667</sandbox_output>So the fraction is 0.6667.</think>\n"
                     "<answer>0.6667</answer>"),
        "n_images": 1,
    }
    return {"wo_thinking_thyme_single_round": [single], "2round": [two], "computation": [comp]}


def write_converted(run_root: stores.ArtifactStore, copies: int = 1) -> dict[str, list[dict]]:
    """Write each split's rows (x `copies`, with distinct images), JSONL and manifest; returns the rows."""
    written: dict[str, list[dict]] = {}
    colors = [(200, 30, 30), (30, 160, 40), (20, 40, 200), (200, 200, 20)]
    for split, templates in rows_by_split().items():
        rows = []
        for c in range(copies):
            for t_i, t in enumerate(templates):
                idx = c * len(templates) + t_i
                keys = []
                for k in range(t["n_images"]):
                    key = f"data/{split}/images/{idx:08d}_{k:02d}.jpg"
                    run_root.put_bytes(key, jpeg(colors[(idx + k) % len(colors)], idx * 7 + k))
                    keys.append(key)
                rows.append({"id": f"{split}/shard-0/{idx}", "split": split, "images": keys,
                             "question": t["question"], "response": t["response"]})
        jsonl = f"data/{split}/shards/0/rows.jsonl"
        run_root.put_bytes(jsonl, "".join(json.dumps(r) + "\n" for r in rows).encode())
        run_root.put_bytes(f"data/{split}/shards/0/done.json", b"{}\n")
        stores.put_json(run_root, f"data/{split}/manifest.json", {"jsonl": [jsonl], "rows": len(rows), "rejected": 0})
        written[split] = rows
    stores.put_json(run_root, "data/manifest.json", {"splits": {s: {"rows": len(r)} for s, r in written.items()}})
    return written


def upload_model(local: Path, store: stores.ArtifactStore, prefix: str = "models/tiny") -> None:
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        store.put_file(stores.join(prefix, path.relative_to(local).as_posix()), path)


def sft_config(store: stores.ArtifactStore, work: Path, **overrides) -> dict:
    cfg = {
        "run_root": store.location("runs/ns/r"), "model": store.location("models/tiny"),
        "phases": [{"splits": SPLITS, "learning_rate": 1e-3, "epochs": 1}],
        "max_length": 1024, "max_pixels": 112 * 112, "per_device_batch_size": 1,
        "gradient_accumulation_steps": 1, "save_steps": 2, "work_dir": str(work), "warmup_ratio": 0.0,
        # the recipe's defaults are for GPUs: on CPU, a plain optimizer and no recomputation
        "deepspeed": None, "gradient_checkpointing": False,
    }
    cfg.update(overrides)
    return cfg


def cli_env(cfg: dict, extra: dict | None = None) -> dict:
    """Environment for a `thyme sft` subprocess: config in THYME_STAGE_CONFIG, one thread."""
    env = dict(os.environ)
    env.update({"THYME_STAGE_CONFIG": json.dumps(cfg), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


PYTHON = sys.executable
