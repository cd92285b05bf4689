"""Benchmarks in VLMEvalKit's TSV format, read row by row, broken rows reported and skipped.

The format (research notes section 3): a tab-separated file with a header; `index`,
`image` (the image file base64-encoded), `question`, one column per option letter
(`A`...`E`; an empty cell is no option), `answer` (the right letter), `category`, and
where a benchmark has them `hint`, `l2-category` (MME-RealWorld) and `cycle_category`
(HR-Bench). Cells with tabs, quotes or newlines are quoted the way pandas writes them.

Two details of VLMEvalKit's loader are kept: an `image` cell of at most 64 characters is
not an image but the `index` of the row whose image this row shares, and options are
exactly the single upper-case columns that have a value.

A row that cannot be an item (missing cells, an image that does not decode, an answer
that is not one of its options, a repeated index, a dangling image reference) is
returned as a `Malformed` record naming its position and why; it never stops the read.
Large benchmarks (HR-Bench 8K) are read twice in a stream instead of held in memory:
first to find which images other rows refer to, then to build this shard's items.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import string
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: an `image` cell this short names another row's index (VLMEvalKit's rule)
IMAGE_REFERENCE_MAX = 64
REQUIRED = ("index", "image", "question", "answer")


@dataclass
class Item:
    """One benchmark question, as the loop and the scorers need it."""

    index: str
    row: int  # 0-based position among the data rows, the key of sharding and reports
    image: bytes
    question: str
    options: dict[str, str]
    answer: str
    category: str = ""
    l2_category: str = ""
    cycle_category: str = ""
    hint: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Malformed:
    row: int
    index: str | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "index": self.index, "reason": self.reason}


def _rows(path: Path) -> Iterator[tuple[int, list[str], list[str]]]:
    """(data row number, header, cells) for every data row."""
    csv.field_size_limit(sys.maxsize)  # one cell holds a whole base64 image
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header is None:
            return
        for n, cells in enumerate(reader):
            yield n, header, cells


def read_header(path: Path) -> list[str]:
    for _, header, _ in _rows(path):
        return header
    return []


def _referenced(path: Path) -> set[str]:
    refs = set()
    for _, header, cells in _rows(path):
        if len(cells) == len(header):
            cell = dict(zip(header, cells)).get("image", "")
            if 0 < len(cell) <= IMAGE_REFERENCE_MAX:
                refs.add(cell.strip())
    return refs


def read_items(path: Path, required: tuple[str, ...] = (), shard: int = 0, num_shards: int = 1,
               check_image: bool = True) -> tuple[list[Item], list[Malformed]]:
    """This shard's items (rows whose position mod `num_shards` is `shard`) and its broken rows.

    `required` names the benchmark's own columns (e.g. `cycle_category`); a file without
    one of them, or without `index`/`image`/`question`/`answer`, is refused as a whole.
    """
    header = read_header(path)
    missing = [c for c in (*REQUIRED, *required) if c not in header]
    if missing:
        raise ValueError(f"{path.name}: the header has no column {', '.join(missing)}; "
                         f"a VLMEvalKit TSV needs {', '.join((*REQUIRED, *required))}")
    refs = _referenced(path)
    shared: dict[str, str] = {}
    seen: set[str] = set()
    pending: list[tuple[int, dict[str, str]]] = []  # rows that refer to an image seen later
    items: list[Item] = []
    bad: list[Malformed] = []
    for n, header, cells in _rows(path):
        if len(cells) != len(header):
            if n % num_shards == shard:
                bad.append(Malformed(n, cells[0] if cells else None,
                                     f"{len(cells)} cells where the header has {len(header)}"))
            continue
        row = dict(zip(header, cells))
        index = row["index"].strip()
        if index in refs and len(row["image"]) > IMAGE_REFERENCE_MAX:
            shared.setdefault(index, row["image"])
        repeated = index in seen  # over the whole file, so two shards never both keep an index
        seen.add(index)
        if n % num_shards != shard:
            continue
        if repeated:
            bad.append(Malformed(n, index, f"index {index!r} appears twice"))
            continue
        if len(row["image"]) <= IMAGE_REFERENCE_MAX:
            pending.append((n, row))
            continue
        result = _item(n, row, row["image"], required, check_image)
        (items if isinstance(result, Item) else bad).append(result)
    for n, row in pending:
        target = row["image"].strip()
        if target not in shared:
            bad.append(Malformed(n, row["index"].strip() or None,
                                 f"image cell {target!r} names no row with an image" if target else "empty image cell"))
            continue
        result = _item(n, row, shared[target], required, check_image)
        (items if isinstance(result, Item) else bad).append(result)
    items.sort(key=lambda i: i.row)
    bad.sort(key=lambda m: m.row)
    return items, bad


def _item(n: int, row: dict[str, str], image_b64: str, required: tuple[str, ...], check_image: bool) -> Item | Malformed:
    index = row["index"].strip()
    if not index:
        return Malformed(n, None, "empty index")
    for column in ("question", "answer", *required):
        if not row.get(column, "").strip():
            return Malformed(n, index, f"empty {column}")
    options = {c: row[c] for c in string.ascii_uppercase if row.get(c, "").strip() and row[c].strip().lower() != "nan"}
    if not options:
        return Malformed(n, index, "no options (columns A, B, ... are empty)")
    answer = row["answer"].strip()
    if answer not in options:
        return Malformed(n, index, f"answer {answer!r} is not one of the options {''.join(options)}")
    try:
        image = base64.b64decode(image_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        return Malformed(n, index, f"image is not base64: {exc}")
    if check_image:
        reason = _undecodable(image)
        if reason:
            return Malformed(n, index, f"image does not decode: {reason}")
    known = {"index", "image", "question", "answer", "category", "l2-category", "cycle_category", "hint",
             *options, *string.ascii_uppercase}
    hint = row.get("hint", "").strip()
    return Item(index=index, row=n, image=image, question=row["question"], options=options, answer=answer,
                category=row.get("category", "").strip(), l2_category=row.get("l2-category", "").strip(),
                cycle_category=row.get("cycle_category", "").strip(), hint="" if hint.lower() == "nan" else hint,
                extra={k: v for k, v in row.items() if k not in known})


def _undecodable(data: bytes) -> str | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except Exception as exc:  # any failure to decode is the row's problem, reported by name
        return f"{type(exc).__name__}: {exc}"
    return None


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write a TSV the way VLMEvalKit's (pandas) files are written; used by `thyme synth-bench`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
