"""Converted rows from the store, encoded into model inputs with their loss labels.

Rows are read once per phase (text only: a few hundred bytes each, so even the full
346K-row release fits in memory); images are fetched from the store when a row is
encoded, so memory holds one batch of pixels, not a split.

Overlong rows. A row whose tokens (image tokens included) pass `max_length` is skipped,
never cut: a cut could fall inside a tag or an image block and teach the model half a
`</code>`, or leave pixels without their tokens. Its slot goes to the next row that fits,
so every step keeps its batch shape on every rank (DDP needs each rank to step). The ids of
skipped rows are collected and reported in sft/manifest.json. Rows that cannot be
rendered (placeholder and image counts disagree) are treated the same way.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import Any

from thyme_jobs import store as stores
from thyme_jobs.modelio import formatting
from thyme_jobs.sft import masking

log = logging.getLogger(__name__)


def read_rows(run_root: stores.ArtifactStore, splits: list[str]) -> list[dict[str, Any]]:
    """All rows of `splits`, in manifest order, per the convert contract
    (`data/<split>/manifest.json` -> "jsonl" keys relative to the run root)."""
    import json

    rows: list[dict[str, Any]] = []
    for split in splits:
        key = stores.join("data", split, "manifest.json")
        if not run_root.exists(key):
            raise FileNotFoundError(f"split {split!r}: no {run_root.location(key)}; run the convert stage "
                                    "for this split first, or fix the phase's splits")
        manifest = stores.get_json(run_root, key)
        for jsonl in manifest.get("jsonl", []):
            for line in run_root.get_bytes(jsonl).decode().splitlines():
                if line.strip():
                    rows.append(json.loads(line))
    return rows


def load_image(run_root: stores.ArtifactStore, key: str):
    from PIL import Image

    with Image.open(io.BytesIO(run_root.get_bytes(key))) as img:
        return img.convert("RGB")


@dataclass
class Encoder:
    """Turns a row and its images into `input_ids`, `labels`, `pixel_values`, `image_grid_thw`."""

    processor: Any
    system_prompt: str | None
    max_length: int
    train_rounds: str
    min_pixels: int
    max_pixels: int
    never_learn_ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        tok = self.processor.tokenizer
        self.never_learn_ids = [tok.convert_tokens_to_ids(t) for t in
                                ("<|image_pad|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>")
                                if tok.convert_tokens_to_ids(t) is not None]

    def render(self, row: dict[str, Any]) -> formatting.RenderedRow:
        return formatting.render_row(row, self.system_prompt, self.processor.apply_chat_template)

    def encode(self, row: dict[str, Any], images: list[Any]) -> dict[str, Any] | None:
        """The model inputs for one row, or None when it is longer than `max_length`."""
        rendered = self.render(row)
        vision: dict[str, Any] = {}
        pads: list[int] = []
        if images:
            ip = self.processor.image_processor
            vision = dict(ip(images=images, return_tensors="pt",
                             size={"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels}))
            merge = ip.merge_size
            pads = [int(g.prod()) // (merge * merge) for g in vision["image_grid_thw"]]
        expanded = formatting.expand_image_pads(rendered, pads)
        enc = self.processor.tokenizer(expanded.text, return_offsets_mapping=True, add_special_tokens=False)
        ids = enc["input_ids"]
        if len(ids) > self.max_length:
            return None
        spans = masking.trainable_spans(expanded.text, expanded.response_start, expanded.response_end,
                                        self.train_rounds)
        labels = masking.labels_from_offsets(ids, enc["offset_mapping"], spans, self.never_learn_ids)
        out = {"input_ids": ids, "labels": labels, **vision}
        return out


class SFTDataset:
    """A map-style dataset over rows; `skipped` collects the ids of rows that were left out.

    Indexing is deterministic (the Trainer's seeded sampler picks indices), which is what
    lets a resumed run skip to its data position without reading the skipped rows.
    """

    def __init__(self, rows: list[dict[str, Any]], run_root: stores.ArtifactStore, encoder: Encoder) -> None:
        if not rows:
            raise ValueError("no rows to train on: the phase's splits are empty")
        self.rows, self.run_root, self.encoder = rows, run_root, encoder
        self.skipped: dict[str, str] = {}  # row id -> reason

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        for k in range(len(self.rows)):
            row = self.rows[(index + k) % len(self.rows)]
            try:
                images = [load_image(self.run_root, key) for key in row.get("images", [])]
                item = self.encoder.encode(row, images)
            except formatting.RowFormatError as exc:
                self._skip(row, f"format: {exc}")
                continue
            if item is None:
                self._skip(row, f"overlong: more than {self.encoder.max_length} tokens")
                continue
            return item
        raise ValueError(f"every row is longer than max_length={self.encoder.max_length} or malformed; "
                         "raise max_length or lower max_pixels")

    def _skip(self, row: dict[str, Any], reason: str) -> None:
        rid = str(row.get("id"))
        if rid not in self.skipped:
            log.warning("skipping row %s (%s)", rid, reason)
        self.skipped[rid] = reason


def collate(batch: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Right-pad token ids (pad id), labels (-100) and the attention mask; concatenate pixels.

    Qwen2-VL's vision tower takes the patches of all images of the batch as one sequence,
    split by `image_grid_thw`, so pixels are concatenated, not stacked.
    """
    import torch

    width = max(len(b["input_ids"]) for b in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), masking.IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for i, b in enumerate(batch):
        n = len(b["input_ids"])
        input_ids[i, :n] = torch.tensor(b["input_ids"])
        labels[i, :n] = torch.tensor(b["labels"])
        attention[i, :n] = 1
    out = {"input_ids": input_ids, "labels": labels, "attention_mask": attention}
    with_images = [b for b in batch if "pixel_values" in b]
    if with_images:
        out["pixel_values"] = torch.cat([b["pixel_values"] for b in with_images])
        out["image_grid_thw"] = torch.cat([b["image_grid_thw"] for b in with_images])
    return out
