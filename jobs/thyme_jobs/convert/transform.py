"""The per-row work the process pool runs: a raw dump row in, a converted row and its images out.

Pure and picklable (plain dataclasses, no store, no client), so it runs the same in a
worker process, in the main process and in a unit test. SFT rows (question + response)
and RL rows (question + ground-truth answer, from the RL layouts in `layouts.py`) share
the image handling; RL rows also get images under 28 px upscaled (counted). A row is all-or-nothing: one
bad image rejects the whole row and none of its images are returned, so the shell can
never store a row that names an image that was not written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from thyme_jobs.convert import images, rows


@dataclass(frozen=True)
class RowTask:
    """One dump row plus where its images will live."""

    split: str
    stem: str
    row_in_file: int
    row_in_split: int
    images: list[str | bytes]
    question: str
    response: str
    image_keys: list[str]
    image0_location: str
    answer: str | None = None  # set for RL rows: the ground truth
    data_source: str | None = None
    shape_error: str | None = None  # the row's columns lack the layout's shape: a reject


@dataclass(frozen=True)
class StoredFile:
    """An image to store, with its SHA-256 (hashed in the worker, so the shell's one process does not)."""

    key: str
    data: bytes
    sha256: str


@dataclass
class RowResult:
    """Either `row` with its `files` to store, or a `reject` record."""

    row: dict | None = None
    files: list[StoredFile] = field(default_factory=list)
    reencoded: int = 0
    upscaled: int = 0
    source_bytes: int = 0
    reject: dict | None = None


def warm_up() -> None:
    """Nothing to do: calling it makes a fresh worker process import this module (Pillow and all)
    while the shell is still opening the dump, instead of on the first row."""


def image_key(split: str, stem: str, row_in_file: int, index: int) -> str:
    """Where image `index` of a row is stored, relative to the run root (one name per row and image)."""
    return f"data/{split}/images/{stem}/{row_in_file:08d}_{index:02d}.jpg"


def row_id(split: str, stem: str, row_in_file: int) -> str:
    return f"{split}/{stem}/{row_in_file}"


def convert_row(task: RowTask) -> RowResult:
    """Validate the row and its images, apply the path rule, and return what to store."""
    source_bytes = sum(len(s) for s in task.images)
    rl = task.answer is not None
    try:
        if task.shape_error is not None:
            raise rows.RowRejected(task.shape_error)
        if rl:
            rows.check_rl_row(task.question, task.answer or "", len(task.images))
        else:
            rows.check_row(task.question, task.response, len(task.images))
        stored = []
        for index, payload in enumerate(task.images):
            try:
                raw = payload if isinstance(payload, bytes) else images.decode_base64(payload)
                image = images.prepare(raw)
                stored.append(images.upscale_small(image) if rl else image)
            except images.ImageRejected as exc:
                raise rows.RowRejected(f"image {index}: {exc}") from None
    except rows.RowRejected as exc:
        reject = {"id": row_id(task.split, task.stem, task.row_in_file), "split": task.split,
                  "row": task.row_in_split, "file": task.stem, "row_in_file": task.row_in_file,
                  "reason": str(exc)}
        return RowResult(reject=reject, source_bytes=source_bytes)
    question, response = rows.apply_image_path_rule(task.question, task.response, task.image0_location)
    row = {"id": row_id(task.split, task.stem, task.row_in_file), "split": task.split,
           "images": list(task.image_keys), "question": question}
    if rl:
        row |= {"answer": task.answer, "data_source": task.data_source}
    else:
        row["response"] = response
    files = [StoredFile(key, image.data, hashlib.sha256(image.data).hexdigest())
             for key, image in zip(task.image_keys, stored)]
    return RowResult(row=row, files=files, reencoded=sum(i.reencoded for i in stored),
                     upscaled=sum(i.upscaled for i in stored), source_bytes=source_bytes)
