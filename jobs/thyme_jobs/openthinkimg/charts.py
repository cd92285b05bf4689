"""A small synthetic chart-QA dump (ChartGemma-shaped questions) for the openthinkimg example.

Each image is a figure of 2x2 bar-chart panels with a title each; the question asks for
one bar's value in one named panel, so cropping or zooming into a subfigure is what a
tool-using model would do. Rows are written in the Thyme-SFT layout the convert stage
reads (`data/<split>-NNNNN-of-MMMMM.parquet`, columns `image` (base64 list), `question`,
`response` ending in `<answer>value</answer>`), so the example runs the real convert
stage before RL. Seeded: the same arguments give the same bytes.
"""

from __future__ import annotations

import base64
import io
import json
import random
from pathlib import Path

SPLIT = "chartqa"
TITLES = ["Revenue", "Costs", "Users", "Errors", "Latency", "Sales", "Visits", "Orders"]
COLOURS = {"red": (200, 40, 40), "green": (40, 160, 60), "blue": (40, 80, 200)}
POSITIONS = ["top left", "top right", "bottom left", "bottom right"]


def draw_figure(rng: random.Random, size: tuple[int, int] = (320, 240)) -> tuple[bytes, list[dict]]:
    """A JPEG of four framed bar panels and what each shows ({title, position, values})."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    w, h = size[0] // 2, size[1] // 2
    panels = []
    for i, title in enumerate(rng.sample(TITLES, 4)):
        x0, y0 = (i % 2) * w, (i // 2) * h
        frame = (x0 + 8, y0 + 8, x0 + w - 8, y0 + h - 8)
        draw.rectangle(frame, outline="black", width=2)
        draw.text((frame[0] + 6, frame[1] + 4), title, fill="black")
        values = {}
        for k, (name, colour) in enumerate(COLOURS.items()):
            value = rng.randrange(1, 10)
            values[name] = value
            left = frame[0] + 14 + k * 40
            top = frame[3] - 4 - value * (h - 40) // 10
            draw.rectangle((left, top, left + 24, frame[3] - 3), fill=colour)
        panels.append({"title": title, "position": POSITIONS[i], "values": values})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue(), panels


def make_row(rng: random.Random) -> dict:
    raw, panels = draw_figure(rng)
    panel = rng.choice(panels)
    colour = rng.choice(list(COLOURS))
    value = panel["values"][colour]
    question = (f"<image>\nIn the {panel['position']} subplot titled \"{panel['title']}\", "
                f"what is the value of the {colour} bar? Answer with a number.")
    response = (f"<think>The {panel['title']} panel is the {panel['position']} one; its {colour} bar reaches "
                f"{value}.</think>\n<answer>{value}</answer>")
    return {"image": [base64.b64encode(raw).decode()], "question": question, "response": response}


def write_dump(out: Path, rows: int = 16, seed: int = 0) -> dict:
    """Write `rows` chart questions to `out/data/chartqa-00000-of-00001.parquet`; returns the counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    schema = pa.schema([("image", pa.list_(pa.string())), ("question", pa.string()), ("response", pa.string())])
    (out / "data").mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([make_row(rng) for _ in range(rows)], schema=schema)
    pq.write_table(table, out / "data" / f"{SPLIT}-00000-of-00001.parquet")
    counts = {SPLIT: rows}
    (out / "counts.json").write_text(json.dumps(counts, indent=1))
    return counts
