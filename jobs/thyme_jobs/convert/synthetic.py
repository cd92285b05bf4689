"""A synthetic dump shaped like the public Thyme-SFT release, for tests, benchmarks and demos.

Why it exists: the real release is hundreds of gigabytes behind a model hub that GPU
clusters often cannot reach, and tests need broken rows on purpose. The layout matches
the release (`data/<split>-NNNNN-of-MMMMM.parquet`, columns `image` = list of base64
strings with the original first, `question`, `response`), so the converter cannot tell
the difference.

Images are drawn with Pillow from one seeded RNG, so the same arguments always give
the same bytes (the draw order below is part of that promise: do not reorder RNG calls).
The image mix mirrors the release: mostly JPEG, some PNG, a few with alpha or a palette,
which is what makes a converter's keep-or-re-encode decision matter.

`corrupt` replaces that fraction of images with the damage real dumps carry (bad
base64, truncated bytes, empty strings, bytes that are no image); the rows hit are
listed in `OUT/corrupt.json` as 0-based row indices within each split, in shard order.
"""

from __future__ import annotations

import base64
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

# Share of rows, rounds of code per row, and what a code round returns, per split.
SPLITS: dict[str, tuple[float, int, str]] = {
    "wo_thinking_thyme_single_round": (0.52, 1, "image"),
    "2round": (0.44, 2, "image"),
    "computation": (0.04, 1, "text"),
}

# Where the authors' machines kept images: the path the "User Image Path" rule rewrites.
SOURCE_PREFIX = "/mllm_hdd/yfzhang/data/temp_processed_images/"
# Where sandbox code saves its outputs; the model was trained on it, so it stays.
OUTPUT_PREFIX = "/mnt/data/temp_processed_images/"


@dataclass(frozen=True)
class SynthSpec:
    """What to generate; the defaults match the generator's command line."""

    rows: int = 200
    shards: int = 1
    min_side: int = 800
    max_side: int = 2400
    corrupt: float = 0.0
    seed: int = 0


def draw_scene(rng: random.Random, w: int, h: int):
    """A photo-like picture: a gradient, shapes and text; compresses like a real one."""
    from PIL import Image, ImageDraw

    base = Image.linear_gradient("L").resize((w, h))
    tint = tuple(rng.randrange(60, 256) for _ in range(3))
    img = Image.merge("RGB", [base.point(lambda v, t=t: v * t // 255) for t in tint])
    d = ImageDraw.Draw(img)
    for _ in range(rng.randrange(8, 40)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1 = min(w, x0 + rng.randrange(10, max(11, w // 3)))
        y1 = min(h, y0 + rng.randrange(10, max(11, h // 3)))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (d.rectangle if rng.random() < 0.5 else d.ellipse)((x0, y0, x1, y1), fill=colour)
    for _ in range(rng.randrange(2, 10)):
        d.text((rng.randrange(w), rng.randrange(h)), f"label {rng.randrange(10**6)}", fill=(0, 0, 0))
    # Sensor grain: without it JPEGs come out ten times smaller than real photos.
    grain = Image.effect_noise((w, h), rng.uniform(12, 30)).convert("RGB")
    return Image.blend(img, grain, 0.18)


def encode(rng: random.Random, img) -> tuple[bytes, str]:
    """Encode as the release does: mostly JPEG, some PNG, a few with alpha or a palette."""
    from PIL import Image

    roll = rng.random()
    buf = io.BytesIO()
    if roll < 0.70:
        img.save(buf, "JPEG", quality=rng.choice([85, 90, 95]))
        return buf.getvalue(), "jpg"
    if roll < 0.85:
        img.save(buf, "PNG")
    elif roll < 0.95:
        rgba = img.convert("RGBA")
        rgba.putalpha(Image.linear_gradient("L").resize(img.size))
        rgba.save(buf, "PNG")
    else:
        img.convert("P", palette=Image.Palette.ADAPTIVE).save(buf, "PNG")
    return buf.getvalue(), "png"


def corrupt(rng: random.Random, b64: str, raw: bytes) -> str:
    """One of the four kinds of damage a converter must catch."""
    kind = rng.randrange(4)
    if kind == 0:
        return b64[: len(b64) // 2] + "!!not-base64!!"
    if kind == 1:
        return base64.b64encode(raw[: max(1, len(raw) // 3)]).decode()
    if kind == 2:
        return ""
    return base64.b64encode(b"this is not an image " * 10).decode()


def make_row(rng: random.Random, split: str, idx: int, spec: SynthSpec) -> tuple[dict, bool]:
    """One row of `split` and whether any of its images was broken on purpose."""
    _, rounds, result = SPLITS[split]
    w = rng.randrange(spec.min_side, spec.max_side + 1)
    h = int(w * rng.uniform(0.5, 1.4))
    original = draw_scene(rng, w, h)
    raw, ext = encode(rng, original)
    stem = f"{split}_{idx:07d}"
    names = [f"{stem}.{ext}"]
    images = [raw]
    code_blocks, outputs = [], []
    for r in range(rounds):
        x1, y1 = rng.randrange(w // 2), rng.randrange(h // 2)
        x2, y2 = min(w, x1 + rng.randrange(64, w // 2 + 65)), min(h, y1 + rng.randrange(64, h // 2 + 65))
        out_name = f"{stem}_crop_{r}_{rng.randrange(10**4)}.jpg"
        code_blocks.append(
            "```python\n"
            "from PIL import Image\n"
            "image = Image.open(image_path)\n"
            f"x1, y1, x2, y2 = {x1}, {y1}, {x2}, {y2}\n"
            "cropped = image.crop((x1, y1, x2, y2))\n"
            f"processed_path = \"{OUTPUT_PREFIX}{out_name}\"\n"
            "cropped.save(processed_path)\n"
            "print(processed_path)\n```"
        )
        if result == "image":
            buf = io.BytesIO()
            original.crop((x1, y1, x2, y2)).save(buf, "JPEG", quality=95)
            images.append(buf.getvalue())
            outputs.append("<image>")
        else:
            outputs.append(f"{rng.uniform(0, 100):.4f}")
    think = [
        f"I should look closer at this region.\n<code>\n{code}\n</code>\n<sandbox_output>{out}</sandbox_output>\n"
        for code, out in zip(code_blocks, outputs)
    ]
    answer = rng.choice("ABCD")
    question = (
        f"<image>\nWhat is the colour of the object labelled {rng.randrange(100)}?\n"
        "Options:\nA. red\nB. green\nC. blue\nD. black\n\n"
        f"### User Image Path:** \"{SOURCE_PREFIX}{names[0]}\"\n"
        f"### User Image Size:** \"{w}x{h}\"\n\n"
        "### **Output Format (strict adherence required):**\n\n<think>...</think>\n<answer>...</answer>"
    )
    response = "<think>" + "".join(think) + f"The answer is {answer}.</think>\n<answer>{answer}</answer>"
    encoded, broken = [], False
    for raw in images:
        b64 = base64.b64encode(raw).decode()
        if rng.random() < spec.corrupt:
            b64, broken = corrupt(rng, b64, raw), True
        encoded.append(b64)
    return {"image": encoded, "question": question, "response": response}, broken


def write_dump(out: Path, spec: SynthSpec) -> dict:
    """Write the dump under `out` (parquet under `out/data/`, counts.json, corrupt.json).

    Rows are generated and written one parquet shard at a time, so memory holds one
    shard, never the whole dump. Returns the summary the command prints.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(spec.seed)
    schema = pa.schema([("image", pa.list_(pa.string())), ("question", pa.string()), ("response", pa.string())])
    (out / "data").mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    broken: dict[str, list[int]] = {}
    for split, (share, _, _) in SPLITS.items():
        n = max(1, round(spec.rows * share))
        counts[split], broken[split] = n, []
        per = -(-n // spec.shards)
        for s in range(spec.shards):
            rows = []
            for i in range(s * per, min(n, (s + 1) * per)):
                row, is_broken = make_row(rng, split, i, spec)
                rows.append(row)
                if is_broken:
                    broken[split].append(i)
            if not rows:
                continue
            table = pa.Table.from_pylist(rows, schema=schema)
            pq.write_table(table, out / "data" / f"{split}-{s:05d}-of-{spec.shards:05d}.parquet")
    (out / "counts.json").write_text(json.dumps(counts, indent=1))
    (out / "corrupt.json").write_text(json.dumps(broken, indent=1))
    return {"rows": counts, "corrupt_rows": {k: len(v) for k, v in broken.items()}}
