"""The dataset layouts convert reads, and how a raw row of each becomes a `RowTask`. Pure.

Three layouts (docs/rl-datasets.md has the columns as found in the public sources):

- `thyme-sft`: the Thyme-SFT dump, `data/<split>-NNNNN-of-MMMMM.parquet` with `image`
  (base64 list), `question`, `response`. Converted splits keep the dump's names.
- `thyme-rl`: `Kwai-Keye/Thyme-RL`, the same file naming with `messages` (system, then the
  user turn with `<image>`), `images` (base64 list), `solution` and `question`. The prompt
  is the user turn; `solution` is the ground truth. Converted split `thyme_rl` (a dump
  split other than `train` is appended: `thyme_rl_<split>`).
- `deepeyes`: `ChenShawn/DeepEyes-Datasets-47k`, three parquet files in verl's row layout
  (`data_source`, `prompt` = system + user messages, `images` = list of {bytes, path},
  `reward_model.ground_truth`, `extra_info`). One converted split per file:
  `deepeyes_vstar`, `deepeyes_chart`, `deepeyes_thinklite`.

Chart is off by default (`DEFAULT_DEEPEYES_FILES`): its images are very high-resolution
figures made of many sub-plots, so even zoomed crops stay large, and the verl recipe
"strongly recommend[s] against" training on it on one node, where it runs out of memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Layout = Literal["thyme-sft", "thyme-rl", "deepeyes"]
RLLayout = Literal["thyme-rl", "deepeyes"]
DeepEyesFile = Literal["vstar", "chart", "thinklite"]

DEEPEYES_FILES: dict[str, str] = {
    "vstar": "data_0.1.2_visual_toolbox_v2.parquet",
    "chart": "data_v0.8_visual_toolbox_v2.parquet",
    "thinklite": "data_thinklite_reasoning_acc.parquet",
}
DEFAULT_DEEPEYES_FILES: tuple[str, ...] = ("vstar", "thinklite")

COLUMNS: dict[str, list[str]] = {
    "thyme-sft": ["image", "question", "response"],
    "thyme-rl": ["messages", "images", "solution", "question"],
    "deepeyes": ["data_source", "prompt", "images", "reward_model"],
}

THYME_RL_SPLIT = "thyme_rl"


def deepeyes_split(file: str) -> str:
    return f"deepeyes_{file}"


def thyme_rl_split(dump_split: str) -> str:
    return THYME_RL_SPLIT if dump_split == "train" else f"{THYME_RL_SPLIT}_{dump_split}"


def rl_splits(layout: RLLayout, files: list[str] | None = None) -> list[str]:
    """The converted split names an RL source gives (thyme-rl: its `train` split)."""
    if layout == "deepeyes":
        return [deepeyes_split(f) for f in (files or DEFAULT_DEEPEYES_FILES)]
    return [THYME_RL_SPLIT]


class RowShapeError(ValueError):
    """A row whose columns do not have the layout's shape; the message is the reject reason."""


@dataclass(frozen=True)
class RawRow:
    """What a row of any layout carries, before its images are checked."""

    images: list[str | bytes]
    question: str
    response: str = ""  # SFT rows only
    answer: str | None = None  # RL rows: the ground truth
    data_source: str | None = None


def image_payload(value: Any) -> str | bytes:
    """An image cell as base64 text or raw bytes: a string, bytes, or HF's {bytes, path} struct."""
    if isinstance(value, dict):
        value = value.get("bytes")
    if isinstance(value, (str, bytes)):
        return value
    return ""


def _user_turn(messages: Any, column: str) -> str:
    if not isinstance(messages, list):
        raise RowShapeError(f"{column} is not a list of messages")
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
    raise RowShapeError(f"{column} has no user message with text content")


def raw_row(layout: Layout, row: dict[str, Any]) -> RawRow:
    """The row's parts under `layout`; RowShapeError for a row that lacks them."""
    if layout == "thyme-sft":
        return RawRow([image_payload(v) for v in row["image"] or []], row["question"] or "", row["response"] or "")
    if layout == "thyme-rl":
        question = _user_turn(row["messages"], "messages")
        return RawRow([image_payload(v) for v in row["images"] or []], question, answer=_text(row["solution"]),
                      data_source="thyme_rl")
    question = _user_turn(row["prompt"], "prompt")
    reward = row["reward_model"] if isinstance(row["reward_model"], dict) else {}
    return RawRow([image_payload(v) for v in row["images"] or []], question, answer=_text(reward.get("ground_truth")),
                  data_source=_text(row["data_source"]) or None)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
