"""Synthetic RL datasets in the Thyme-RL and DeepEyes-47k layouts, broken rows included.

Why: the real sets are tens of gigabytes behind a model hub; tests and the DeepEyes
example need a few hundred rows shaped exactly like them (`layouts.py` and
docs/rl-datasets.md say which columns), with damage on purpose. Same arguments, same
bytes: everything comes from one seeded RNG, in a fixed draw order.

What is broken, and listed in `OUT/corrupt.json` (0-based row index per converted split):
`corrupt` of the rows get one of the image damages the SFT generator uses, and about one
row in twelve gets a structural fault of its layout (no ground truth, a prompt whose
`<image>` count is wrong, a prompt without a user turn). ThinkLite rows have small images,
some with a side under 28 px, which convert must upscale (not reject).

The V*-style rows are answerable by zooming: a small coloured shape somewhere in a large
scene, asked about by its colour; the ground truth is the colour's name.
"""

from __future__ import annotations

import base64
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thyme_jobs.convert import layouts, synthetic

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 60), "blue": (30, 60, 220), "yellow": (235, 210, 30),
           "purple": (140, 40, 170)}
SHAPES = ("square", "circle")
# DeepEyes' trained user-turn suffix (the prompt the released model saw; reproduced as is).
DEEPEYES_INSTRUCTION = ("\nThink first, call **image_zoom_in_tool** if needed, then answer. Format strictly as:  "
                        "<think>...</think>  <tool_call>...</tool_call> (if tools needed)  <answer>...</answer> ")
DATA_SOURCES = {"vstar": "vstar", "chart": "chart", "thinklite": "thinklite_eureka"}


@dataclass(frozen=True)
class RLSynthSpec:
    """What to generate; rows are per converted split (per DeepEyes file)."""

    rows: int = 24
    shards: int = 1  # thyme-rl only: parquet files of its train split
    min_side: int = 320
    max_side: int = 640
    corrupt: float = 0.0
    seed: int = 0


def _jpeg(img: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def zoom_scene(rng: random.Random, w: int, h: int) -> tuple[Any, str, str, tuple[int, int, int, int]]:
    """A scene with one small coloured shape: (image, colour name, shape, its box)."""
    from PIL import ImageDraw

    img = synthetic.draw_scene(rng, w, h).convert("L").convert("RGB")  # grey, so the colour stands out
    colour = rng.choice(sorted(COLOURS))
    shape = rng.choice(SHAPES)
    side = max(12, min(w, h) // 12)
    x0, y0 = rng.randrange(0, w - side), rng.randrange(0, h - side)
    box = (x0, y0, x0 + side, y0 + side)
    draw = ImageDraw.Draw(img)
    (draw.rectangle if shape == "square" else draw.ellipse)(box, fill=COLOURS[colour])
    return img, colour, shape, box


def _image_cell(raw: bytes, rng: random.Random, spec: RLSynthSpec, as_struct: bool) -> tuple[Any, bool]:
    """The image as its layout stores it (HF's {bytes, path} struct, or base64), maybe damaged."""
    broken = rng.random() < spec.corrupt
    if as_struct:
        if broken:
            raw = [raw[: len(raw) // 3], b"", b"this is not an image " * 10][rng.randrange(3)]
        return {"bytes": raw, "path": None}, broken
    text = base64.b64encode(raw).decode()
    return (synthetic.corrupt(rng, text, raw) if broken else text), broken


def _fault(rng: random.Random) -> int | None:
    """Which structural fault a row gets (about one in twelve), or None."""
    return rng.randrange(3) if rng.random() < 1 / 12 else None


def deepeyes_row(rng: random.Random, file: str, index: int, spec: RLSynthSpec) -> tuple[dict, bool]:
    """One row of a DeepEyes file in verl's layout and whether it was broken on purpose."""
    if file == "thinklite":
        # Small images, a quarter of them under 28 px on one side (convert upscales them).
        w, h = rng.randrange(40, 200), rng.randrange(40, 200)
        if rng.random() < 0.25:
            h = rng.randrange(8, 28)
        img = synthetic.draw_scene(rng, w, h)
        a, b = rng.randrange(2, 50), rng.randrange(2, 50)
        question = f"<image>\nThe figure shows two numbers, {a} and {b}. What is their sum?"
        truth = str(a + b)
    else:
        w = rng.randrange(spec.min_side, spec.max_side + 1) * (3 if file == "chart" else 1)
        h = int(w * rng.uniform(0.6, 1.2))
        img, colour, shape, _ = zoom_scene(rng, w, h)
        question = f"<image>\nWhat is the colour of the {shape}?"
        truth = colour
    cell, broken = _image_cell(_jpeg(img), rng, spec, as_struct=True)
    user = question + (DEEPEYES_INSTRUCTION if file != "thinklite" else "")
    prompt = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": user}]
    fault = _fault(rng)
    if fault == 0:
        truth = ""
    elif fault == 1:
        prompt[1]["content"] = user.replace("<image>\n", "")
    elif fault == 2:
        prompt = prompt[:1]
    row = {
        "data_source": DATA_SOURCES[file],
        "prompt": prompt,
        "images": [cell],
        "ability": "math" if file == "thinklite" else "vqa",
        "env_name": "visual_toolbox_v2",
        "reward_model": {"ground_truth": truth, "style": "model"},
        "extra_info": {"index": index, "split": "train", "question": question.removeprefix("<image>\n"),
                       "answer": truth},
    }
    return row, broken or fault is not None


def thyme_rl_row(rng: random.Random, index: int, spec: RLSynthSpec) -> tuple[dict, bool]:
    """One Thyme-RL row: messages (system, user with <image> and its path), base64 images, solution."""
    w = rng.randrange(spec.min_side, spec.max_side + 1)
    h = int(w * rng.uniform(0.6, 1.2))
    img, colour, shape, _ = zoom_scene(rng, w, h)
    name = f"thyme_rl_{index:07d}.jpg"
    question = f"What is the colour of the {shape}?"
    user = (f"<image>\n{question}\n\n### User Image Path:** \"{synthetic.SOURCE_PREFIX}{name}\"\n"
            f"### User Image Size:** \"{w}x{h}\"\n\n### **Output Format (strict adherence required):**\n\n"
            "<think>...</think>\n<answer>...</answer>")
    cell, broken = _image_cell(_jpeg(img), rng, spec, as_struct=False)
    messages = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": user}]
    solution = colour
    fault = _fault(rng)
    if fault == 0:
        solution = ""
    elif fault == 1:
        messages[1]["content"] = user.replace("<image>\n", "<image>\n<image>\n")
    elif fault == 2:
        messages = messages[:1]
    return {"messages": messages, "images": [cell], "solution": solution, "question": question}, \
        broken or fault is not None


def write_deepeyes(out: Path, spec: RLSynthSpec, files: tuple[str, ...] = tuple(layouts.DEEPEYES_FILES)) -> dict:
    """The three DeepEyes-47k parquet files (or `files` of them) at `out`'s root."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(spec.seed)
    out.mkdir(parents=True, exist_ok=True)
    counts, broken = {}, {}
    for file in files:
        split = layouts.deepeyes_split(file)
        rows, broken[split] = [], []
        for i in range(spec.rows):
            row, bad = deepeyes_row(rng, file, i, spec)
            rows.append(row)
            if bad:
                broken[split].append(i)
        counts[split] = len(rows)
        pq.write_table(pa.Table.from_pylist(rows), out / layouts.DEEPEYES_FILES[file])
    return _finish(out, counts, broken)


def write_thyme_rl(out: Path, spec: RLSynthSpec) -> dict:
    """`data/train-NNNNN-of-MMMMM.parquet` shaped like Kwai-Keye/Thyme-RL."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(spec.seed)
    (out / "data").mkdir(parents=True, exist_ok=True)
    broken: list[int] = []
    per = -(-spec.rows // spec.shards)
    for s in range(spec.shards):
        rows = []
        for i in range(s * per, min(spec.rows, (s + 1) * per)):
            row, bad = thyme_rl_row(rng, i, spec)
            rows.append(row)
            if bad:
                broken.append(i)
        if rows:
            pq.write_table(pa.Table.from_pylist(rows), out / "data" / f"train-{s:05d}-of-{spec.shards:05d}.parquet")
    return _finish(out, {layouts.THYME_RL_SPLIT: spec.rows}, {layouts.THYME_RL_SPLIT: broken})


def _finish(out: Path, counts: dict[str, int], broken: dict[str, list[int]]) -> dict:
    (out / "counts.json").write_text(json.dumps(counts, indent=1))
    (out / "corrupt.json").write_text(json.dumps(broken, indent=1))
    return {"rows": counts, "corrupt_rows": {k: len(v) for k, v in broken.items()}}


def write_vstar(out: Path, rows: int = 8, *, min_side: int = 320, max_side: int = 640, seed: int = 0) -> dict:
    """A V*-format benchmark folder: `<category>/<name>.jpg` + `<name>.json` with `question`
    and `options`, the right option first (as the raw V* release and DeepEyes' harness have it).

    direct_attributes asks a small shape's colour; relative_position whether one shape is
    left or right of another.
    """
    from PIL import ImageDraw

    rng = random.Random(seed)
    counts = {}
    for category in ("direct_attributes", "relative_position"):
        folder = out / category
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(rows):
            w = rng.randrange(min_side, max_side + 1)
            h = int(w * rng.uniform(0.6, 1.2))
            img, colour, shape, box = zoom_scene(rng, w, h)
            if category == "direct_attributes":
                others = [c for c in sorted(COLOURS) if c != colour]
                rng.shuffle(others)
                question = f"What is the colour of the {shape}?"
                options = [f"The colour of the {shape} is {c}." for c in [colour, *others[:3]]]
            else:
                other = rng.choice([c for c in sorted(COLOURS) if c != colour])
                side = max(12, min(w, h) // 12)
                room_left, room_right = box[0] - side - 1, w - side - box[2] - 1  # free columns on each side
                left = room_right < 1 or (room_left >= 1 and rng.random() < 0.5)
                x0 = rng.randrange(0, room_left) if left else rng.randrange(box[2] + 1, box[2] + 1 + room_right)
                y0 = rng.randrange(0, h - side)
                ImageDraw.Draw(img).rectangle((x0, y0, x0 + side, y0 + side), fill=COLOURS[other])
                question = f"Is the {other} square on the left or right side of the {colour} {shape}?"
                options = [f"The {other} square is on the {'left' if left else 'right'} side of the {colour} {shape}.",
                           f"The {other} square is on the {'right' if left else 'left'} side of the {colour} {shape}."]
            (folder / f"sa_{i:05d}.jpg").write_bytes(_jpeg(img))
            (folder / f"sa_{i:05d}.json").write_text(json.dumps({"question": question, "options": options}))
        counts[category] = rows
    return {"rows": counts}
