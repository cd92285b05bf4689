"""Reading `<tool_call>` spans: well-formed calls, and every malformed one as an error text."""

from __future__ import annotations

import pytest

from thyme_jobs.deepeyes import toolcalls
from thyme_jobs.deepeyes.toolcalls import ToolCallError, ZoomCall


def call(body: str) -> str:
    return f"<think>look closer</think>\n<tool_call>\n{body}\n</tool_call>"


def test_a_hermes_call_gives_its_box_and_label() -> None:
    text = call('{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [10, 20.5, 110, 220], "label": "sign"}}')
    assert toolcalls.parse_turn(text) == ZoomCall((10.0, 20.5, 110.0, 220.0), "sign")


def test_the_label_is_optional_and_double_encoded_arguments_are_read() -> None:
    text = call('{"name": "image_zoom_in_tool", "arguments": "{\\"bbox_2d\\": [1, 2, 3, 4]}"}')
    assert toolcalls.parse_turn(text) == ZoomCall((1.0, 2.0, 3.0, 4.0), "")


def test_the_last_call_of_a_turn_is_the_one_read() -> None:
    first = '{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [0, 0, 5, 5]}}'
    last = '{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [9, 9, 50, 50]}}'
    assert toolcalls.parse_turn(call(first) + call(last)).bbox == (9.0, 9.0, 50.0, 50.0)


def test_a_turn_without_a_call_is_an_answer() -> None:
    assert toolcalls.parse_turn("<think>easy</think><answer>B</answer>") is None


@pytest.mark.parametrize(("text", "message"), [
    (call("{name: image_zoom_in_tool}"), "not valid JSON"),
    (call("[1, 2, 3, 4]"), "must be a JSON object"),
    (call('{"name": "image_rotate_tool", "arguments": {"angle": 90}}'), "unknown tool 'image_rotate_tool'"),
    (call('{"arguments": {"bbox_2d": [1, 2, 3, 4]}}'), "unknown tool None"),
    (call('{"name": "image_zoom_in_tool"}'), 'no "arguments" object'),
    (call('{"name": "image_zoom_in_tool", "arguments": {"label": "cat"}}'), "bbox_2d parameter is missing"),
    (call('{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [1, 2, 3]}}'), "list of 4 numbers"),
    (call('{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": ["1", 2, 3, 4]}}'), "list of 4 numbers"),
    (call('{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [true, 2, 3, 4]}}'), "list of 4 numbers"),
    (call('{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [NaN, 2, 3, 4]}}'), "list of 4 numbers"),
    ('<think>x</think><tool_call>{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [1,', "never closed"),
])
def test_a_malformed_call_is_an_error_text_not_a_crash(text: str, message: str) -> None:
    with pytest.raises(ToolCallError, match=message) as info:
        toolcalls.parse_turn(text)
    assert str(info.value).startswith("Error: ")
