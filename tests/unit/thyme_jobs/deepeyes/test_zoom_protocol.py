"""The DeepEyes protocol: a good call gives the crop and verl's text; every bad call an error turn."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from PIL import Image

from thyme_jobs.agent import loop, protocols
from thyme_jobs.deepeyes import boxes, turns
from thyme_jobs.deepeyes.protocol import DeepEyesZoom


@pytest.fixture(scope="module")
def photo() -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((800, 600)).convert("RGB").save(out, "JPEG")
    return out.getvalue()


def turn(arguments: dict, name: str = "image_zoom_in_tool") -> str:
    return ("<think>The sign is small.</think>\n<tool_call>\n"
            + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>")


def step(tool: DeepEyesZoom, text: str, photo: bytes) -> loop.Segment:
    trajectory = loop.Trajectory("t", "p", "<image>\nWhat is on the sign?", [photo])
    call = tool.parse(text)
    if call is None:
        return tool.reject(text)
    return tool.render(asyncio.run(tool.run(trajectory, call)), images_left=5, max_chars=2000)


def test_the_protocol_stops_at_the_end_of_a_call_and_of_an_answer() -> None:
    tool = DeepEyesZoom()
    assert protocols.text_stops(tool) == ("</tool_call>", "</answer>")


def test_a_good_call_returns_the_crop_as_a_tool_response_turn(photo: bytes) -> None:
    segment = step(DeepEyesZoom(), turn({"bbox_2d": [100, 50, 300, 250], "label": "sign"}), photo)
    assert not segment.trainable
    assert segment.text == turns.observation(
        "Zoomed in on the image to the region [100, 50, 300, 250] with label sign.", with_image=True)
    assert segment.text.startswith("<|im_end|>\n<|im_start|>user\n<tool_response>\n<image>")
    assert segment.text.endswith("</tool_response><|im_end|>\n<|im_start|>assistant\n")
    assert segment.text.count("<image>") == len(segment.images) == 1
    frame = boxes.Frame.for_image(800, 600)
    with Image.open(io.BytesIO(segment.images[0])) as crop:
        assert crop.width == pytest.approx(200 * 800 / frame.shown_width, abs=2)


def test_a_turn_without_a_call_is_no_call() -> None:
    assert DeepEyesZoom().parse("<think>easy</think><answer>red</answer>") is None


@pytest.mark.parametrize(("text", "message"), [
    ("<tool_call>not json</tool_call>", "not valid JSON"),
    (turn({"bbox_2d": [1, 2, 3, 4]}, name="image_rotate_tool"), "unknown tool"),
    (turn({"label": "sign"}), "bbox_2d parameter is missing"),
    (turn({"bbox_2d": [5000, 5000, 6000, 6000]}), "inverted or empty"),  # outside the image
    (turn({"bbox_2d": [300, 300, 100, 100]}), "inverted or empty"),
])
def test_a_bad_call_is_an_error_turn_without_an_image(photo: bytes, text: str, message: str) -> None:
    segment = step(DeepEyesZoom(), text, photo)
    assert message in segment.text and segment.images == [] and "<image>" not in segment.text
    assert segment.text.startswith("<|im_end|>\n<|im_start|>user\n<tool_response>\nError")


def test_an_undecodable_input_image_is_an_error_not_a_crash() -> None:
    segment = step(DeepEyesZoom(), turn({"bbox_2d": [0, 0, 50, 50]}), b"not an image")
    assert "Error processing image zoom-in" in segment.text


def test_no_crop_is_shown_past_the_image_limit(photo: bytes) -> None:
    tool = DeepEyesZoom()
    trajectory = loop.Trajectory("t", "p", "<image>\nQ", [photo])
    call = tool.parse(turn({"bbox_2d": [0, 0, 100, 100]}))
    segment = tool.render(asyncio.run(tool.run(trajectory, call)), images_left=0, max_chars=2000)
    assert segment.images == [] and "image limit" in segment.text
