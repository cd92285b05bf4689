"""`thyme synth-bench`: benchmarks in each VLMEvalKit TSV format, with known answers and broken rows.

Why: the real TSVs live on a model hub that clusters and tests cannot reach, and the
reader must be shown rows that are broken on purpose. Each benchmark gets its own
columns (V*: `category` direct_attributes/relative_position; HR-Bench: `category`
single/cross and `cycle_category`; MME-RealWorld: five options, `category`
"Task/Subtask" and `l2-category`), images drawn with Pillow from one seeded RNG (a
coloured square somewhere on a larger canvas: the kind of small detail V* asks about),
one row that shares another row's image through VLMEvalKit's short-reference rule, and
`broken` rows, each listed in `OUT/answers.json` with the reason the reader must give.
"""

from __future__ import annotations

import base64
import io
import json
import random
from pathlib import Path

from thyme_jobs.eval import scorers, tsv

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 220), "yellow": (230, 210, 40),
           "purple": (140, 60, 170)}
MME_TASKS = [("Perception", "Remote Sensing", "color"), ("Perception", "OCR with Complex Context", "text"),
             ("Perception", "Monitoring", "counting"), ("Reasoning", "Autonomous_Driving", "intention"),
             ("Reasoning", "Diagram and Table", "math")]


def _image(rng: random.Random, colour: str, side: int) -> tuple[bytes, str]:
    """A canvas with one coloured square; returns JPEG bytes and which half the square is in."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (side, side), (235, 235, 235))
    draw = ImageDraw.Draw(img)
    box = max(side // 12, 6)
    x, y = rng.randrange(0, side - box), rng.randrange(0, side - box)
    draw.rectangle((x, y, x + box, y + box), fill=COLOURS[colour])
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue(), "left" if x + box / 2 < side / 2 else "right"


def _options(rng: random.Random, truth: str, n: int) -> tuple[dict[str, str], str]:
    others = [c for c in COLOURS if c != truth]
    rng.shuffle(others)
    values = [truth, *others[: n - 1]]
    rng.shuffle(values)
    letters = "ABCDE"[:n]
    return dict(zip(letters, values)), letters[values.index(truth)]


def benchmark_rows(name: str, n: int, rng: random.Random, side: int) -> tuple[list[str], list[list[str]], dict[str, str]]:
    """Header, rows and {index: answer} of `n` good items in the format of benchmark `name`."""
    bench = scorers.benchmark(name)
    n_options = 5 if bench.rule == "mme" else 4
    header = ["index", "image", "question", *"ABCDE"[:n_options], "answer", *bench.columns]
    rows, truth = [], {}
    for i in range(n):
        colour = rng.choice(list(COLOURS))
        image, half = _image(rng, colour, side)
        if bench.report == "category" and i % 2 == 1:
            question, category = "Is the coloured square on the left or the right side of the image?", "relative_position"
            options, answer = ({"A": "left", "B": "right", "C": "top", "D": "bottom"},
                               "A" if half == "left" else "B")
        else:
            question, category = "What is the colour of the small square?", "direct_attributes"
            options, answer = _options(rng, colour, n_options)
        extra = {"category": category}
        if bench.report == "hrbench":
            extra = {"category": "single" if i % 2 == 0 else "cross", "cycle_category": f"cycle_{i % 3}"}
        elif bench.report == "mme":
            task, subtask, l2 = MME_TASKS[i % len(MME_TASKS)]
            extra = {"category": f"{task}/{subtask}", "l2-category": l2}
        cells = {"index": str(i), "image": base64.b64encode(image).decode(), "question": question,
                 **options, "answer": answer, **extra}
        rows.append([cells.get(col, "") for col in header])
        truth[str(i)] = answer
    return header, rows, truth


def broken_rows(header: list[str], good: list[list[str]], start: int) -> tuple[list[list[str]], list[dict[str, str]]]:
    """Rows every reader must skip (and one valid image-sharing row), with the reason each gives."""
    col = {c: header.index(c) for c in header}
    base = good[0]

    def variant(index: int, **cells: str) -> list[str]:
        row = list(base)
        row[col["index"]] = str(index)
        for name, value in cells.items():
            row[col[name]] = value
        return row

    rows = [
        variant(start, image="not*base64!" * 10),
        variant(start + 1, image=base64.b64encode(b"these bytes are no image at all" * 4).decode()),
        variant(start + 2, answer="Z"),
        variant(start + 3)[:3],  # too few cells
        variant(start + 4, image="999999"),  # refers to a row that does not exist
        variant(0),  # repeats index 0
    ]
    reasons = [{"index": str(start), "reason": "image is not base64"},
               {"index": str(start + 1), "reason": "image does not decode"},
               {"index": str(start + 2), "reason": "is not one of the options"},
               {"index": str(start + 3), "reason": "cells where the header has"},
               {"index": str(start + 4), "reason": "names no row with an image"},
               {"index": "0", "reason": "appears twice"}]
    return rows, reasons


def write(out: Path, benchmarks: list[str], items: int, *, broken: bool = True, seed: int = 0,
          side: int = 448) -> dict[str, object]:
    """Write `OUT/<benchmark>.tsv` for each name and `OUT/answers.json`; returns the latter."""
    rng = random.Random(seed)
    summary: dict[str, object] = {}
    for name in benchmarks:
        header, rows, truth = benchmark_rows(name, items, rng, side)
        report: list[dict[str, object]] = []
        if broken:
            bad, reasons = broken_rows(header, rows, items)
            shared = list(rows[0])
            shared[header.index("index")] = str(items + len(bad))
            shared[header.index("image")] = "0"  # VLMEvalKit's short reference to row 0's image
            truth[str(items + len(bad))] = rows[0][header.index("answer")]
            first_bad = len(rows)
            rows += bad + [shared]
            report = [{"row": first_bad + k, **r} for k, r in enumerate(reasons)]
        tsv.write_rows(out / f"{name}.tsv", header, rows)
        summary[name] = {"tsv": f"{name}.tsv", "answers": truth, "broken": report}
    (out / "answers.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
