"""RL rows: each layout's columns, the checks an RL row must pass, and upscaling small images."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from thyme_jobs.convert import images, layouts, transform
from thyme_jobs.convert.layouts import RowShapeError


def _jpeg(w: int, h: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), (200, 10, 10)).save(out, "JPEG")
    return out.getvalue()


def test_a_deepeyes_row_gives_the_user_turn_images_and_ground_truth() -> None:
    row = {"data_source": "vstar", "images": [{"bytes": b"jpeg", "path": None}],
           "prompt": [{"role": "system", "content": "sys"}, {"role": "user", "content": "<image>\nWhat colour?"}],
           "reward_model": {"ground_truth": "red", "style": "model"}}
    raw = layouts.raw_row("deepeyes", row)
    assert (raw.question, raw.answer, raw.data_source, raw.images) == ("<image>\nWhat colour?", "red", "vstar",
                                                                       [b"jpeg"])


def test_a_thyme_rl_row_takes_solution_as_ground_truth() -> None:
    row = {"messages": [{"role": "user", "content": "<image>\nQ"}], "images": ["aGk="], "solution": "B",
           "question": "Q"}
    raw = layouts.raw_row("thyme-rl", row)
    assert (raw.question, raw.answer, raw.images) == ("<image>\nQ", "B", ["aGk="])


@pytest.mark.parametrize("prompt", [None, "text", [{"role": "system", "content": "x"}],
                                    [{"role": "user", "content": [{"type": "text"}]}]])
def test_a_prompt_without_a_user_text_turn_is_a_shape_error(prompt) -> None:
    with pytest.raises(RowShapeError, match="prompt (is not a list of messages|has no user message)"):
        layouts.raw_row("deepeyes", {"data_source": "vstar", "images": [], "prompt": prompt, "reward_model": {}})


def test_the_split_names_of_each_rl_layout() -> None:
    assert layouts.rl_splits("deepeyes") == ["deepeyes_vstar", "deepeyes_thinklite"]
    assert layouts.rl_splits("deepeyes", ["chart"]) == ["deepeyes_chart"]
    assert layouts.rl_splits("thyme-rl") == ["thyme_rl"]


def _task(question: str, answer: str, payloads: list) -> transform.RowTask:
    keys = [f"data/s/images/f/00000000_{i:02d}.jpg" for i in range(len(payloads))]
    return transform.RowTask("s", "f", 0, 0, payloads, question, "", keys, "/store/" + keys[0] if keys else "",
                             answer=answer, data_source="vstar")


def test_an_rl_row_converts_to_question_answer_and_images() -> None:
    result = transform.convert_row(_task("<image>\nWhat colour?", "red", [_jpeg(64, 48)]))
    assert result.reject is None
    assert result.row == {"id": "s/f/0", "split": "s", "images": ["data/s/images/f/00000000_00.jpg"],
                          "question": "<image>\nWhat colour?", "answer": "red", "data_source": "vstar"}


@pytest.mark.parametrize(("question", "answer", "payloads", "reason"), [
    ("<image>\nQ", "", [_jpeg(64, 64)], "no ground truth"),
    ("Q", "red", [_jpeg(64, 64)], "0 <image> tags in the prompt for 1 images"),
    ("<image>\nQ", "red", [], "row has no images"),
    ("<image>\nQ", "red", [b"not an image"], "image 0: not an image"),
    ("<image>\nQ", "red", [_jpeg(4, 1000)], "aspect ratio"),
])
def test_a_broken_rl_row_is_rejected_with_its_reason(question, answer, payloads, reason) -> None:
    result = transform.convert_row(_task(question, answer, payloads))
    assert result.row is None and reason in result.reject["reason"] and not result.files


def test_an_image_with_a_side_under_28_is_upscaled_and_counted() -> None:
    result = transform.convert_row(_task("<image>\nQ", "4", [_jpeg(90, 12)]))
    assert result.upscaled == 1
    with Image.open(io.BytesIO(result.files[0].data)) as img:
        assert img.size == (210, 28)


def test_images_large_enough_are_kept_byte_for_byte() -> None:
    raw = _jpeg(60, 40)
    kept = images.upscale_small(images.prepare(raw))
    assert kept.data == raw and not kept.upscaled


def test_sft_rows_are_not_upscaled() -> None:
    task = transform.RowTask("s", "f", 0, 0, [base64.b64encode(_jpeg(90, 12)).decode()],
                             "<image>\nQ", "<answer>A</answer>", ["k.jpg"], "/k.jpg")
    result = transform.convert_row(task)
    assert result.reject is None and result.upscaled == 0 and "response" in result.row
