"""Reading a DeepEyes tool call: hermes-style JSON inside `<tool_call>...</tool_call>`. Pure.

The model writes, once per turn (the system prompt says one call at a time)

    <tool_call>
    {"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [x1, y1, x2, y2], "label": "the sign"}}
    </tool_call>

and the loop stops generating at `</tool_call>`: DeepEyes models served without that stop
string ran on past the call and invented the tool's answer (DeepEyes issues #126, #131).

Every way a call can be wrong becomes a `ToolCallError` whose message is what the model is
shown in its error observation (verl's tool answers a bad call with an error text and a
-0.05 step reward, never by failing the rollout). What is a valid *box* is decided later,
against the image (`boxes.py`); here only the shape: four finite numbers.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

TOOL_NAME = "image_zoom_in_tool"
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
_LAST_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)


class ToolCallError(ValueError):
    """A call the tool cannot run; the message is the error observation's text."""


@dataclass(frozen=True)
class ZoomCall:
    """A well-formed zoom call: a box in the frame of the image the model was shown."""

    bbox: tuple[float, float, float, float]
    label: str = ""


def call_span(text: str) -> str | None:
    """The JSON text of the last complete `<tool_call>` in `text`, or None when there is none.

    >>> call_span('look <tool_call>{"name": "x"}</tool_call>')
    '{"name": "x"}'
    >>> call_span("<answer>B</answer>") is None
    True
    """
    found = _LAST_CALL.findall(text)
    return found[-1].strip() if found else None


def parse_call(span: str) -> ZoomCall:
    """The zoom call in `span` (the text between the tags), or ToolCallError saying what is wrong.

    >>> parse_call('{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [1, 2, 30, 40]}}').bbox
    (1.0, 2.0, 30.0, 40.0)
    >>> try: parse_call('{"name": "crop", "arguments": {}}')
    ... except ToolCallError as exc: print(exc)
    Error: unknown tool 'crop'; the only tool is image_zoom_in_tool.
    """
    try:
        call = json.loads(span)
    except json.JSONDecodeError as exc:
        raise ToolCallError(f"Error: the tool call is not valid JSON ({exc.msg} at character {exc.pos}).") from None
    if not isinstance(call, dict):
        raise ToolCallError('Error: the tool call must be a JSON object {"name": ..., "arguments": {...}}.')
    name = call.get("name")
    if name != TOOL_NAME:
        raise ToolCallError(f"Error: unknown tool {name!r}; the only tool is {TOOL_NAME}.")
    arguments = call.get("arguments")
    if isinstance(arguments, str):  # some models double-encode the arguments
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            pass
    if not isinstance(arguments, dict):
        raise ToolCallError("Error: the tool call has no \"arguments\" object.")
    bbox = arguments.get("bbox_2d")
    if bbox is None:
        raise ToolCallError("Error: bbox_2d parameter is missing or not a list of 4 numbers.")
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        raise ToolCallError(f"Error: bbox_2d must be a list of 4 numbers [x1, y1, x2, y2], got {bbox!r}.")
    label = arguments.get("label", "")
    return ZoomCall(tuple(float(v) for v in bbox), label if isinstance(label, str) else str(label))  # type: ignore[arg-type]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_turn(text: str) -> ZoomCall | None:
    """The call a turn ends with: None for a turn without `<tool_call>` (an answer), else the
    parsed call, or ToolCallError for a call that is opened and never closed or is malformed."""
    span = call_span(text)
    if span is None:
        if CALL_OPEN in text:
            raise ToolCallError("Error: <tool_call> was opened and never closed with </tool_call>.")
        return None
    return parse_call(span)
