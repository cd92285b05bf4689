"""The text around a DeepEyes tool call, as verl's DeepEyes recipe renders it. Pure.

- **System prompt**: the recipe's own ("You can call functions... only one function at a
  time") followed by Qwen2.5's hermes tools block, which lists the zoom tool's JSON schema
  inside `<tools>` and shows the `<tool_call>` format. These are prompt strings the
  released models were trained on, so they are reproduced as they are.
- **Observation**: the tool's answer is a *user* turn, the way Qwen2.5's template renders a
  `tool` message: `<tool_response>`, the crop (an `<image>` placeholder the encoder turns
  into the vision block), the tool's text, `</tool_response>`. The assistant turn that
  ended at `</tool_call>` is closed first and a new one opened after, so the model
  continues as it would after a real tool turn. All of it is written by the loop, not
  sampled: it carries no loss, and neither do the crop's image tokens.
"""

from __future__ import annotations

import json

from thyme_jobs.deepeyes.toolcalls import CALL_CLOSE, TOOL_NAME

IMAGE = "<image>"  # the placeholder the trajectory encoder expands into the model's image tokens
ANSWER_CLOSE = "</answer>"
#: Generation stops at the end of a call (so the loop, not the model, answers it) or of an answer.
STOPS = (CALL_CLOSE, ANSWER_CLOSE)

SYSTEM = ("You are a helpful assistant. You can call functions to assist with the user query. "
          "Important: You must call only one function at a time. After each function call, "
          "wait for the execution result before making the next function call if needed.")

TOOL_SCHEMA = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Zoom in on a specific region of an image by cropping it based on a bounding box (bbox) and "
                       "an optional object label.",
        "parameters": {
            "type": "object",
            "properties": {
                "bbox_2d": {
                    "type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
                    "description": "The bounding box of the region to zoom in, as [x1, y1, x2, y2], where (x1, y1) "
                                   "is the top-left corner and (x2, y2) is the bottom-right corner.",
                },
                "label": {"type": "string",
                          "description": "The name or label of the object in the specified bounding box (optional)."},
            },
            "required": ["bbox_2d"],
        },
    },
}

_TOOLS_BLOCK = (
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{tools}\n</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}}\n</tool_call>"
)


def system_prompt() -> str:
    """The recipe's system turn with the zoom tool's schema in Qwen2.5's tools block."""
    return SYSTEM + _TOOLS_BLOCK.format(tools=json.dumps(TOOL_SCHEMA))


def zoom_text(bbox: list[float] | tuple[float, ...], label: str) -> str:
    """The tool's text beside the crop (verl's wording).

    >>> zoom_text([1, 2, 30, 40], "sign")
    'Zoomed in on the image to the region [1, 2, 30, 40] with label sign.'
    """
    shown = [int(v) if float(v).is_integer() else v for v in bbox]
    if label:
        return f"Zoomed in on the image to the region {shown} with label {label}."
    return f"Zoomed in on the image to the region {shown}."


def observation(text: str, with_image: bool) -> str:
    """The loop-written turn after a call: close the assistant turn, the tool response as a
    user turn (the crop first, then the text), and open the next assistant turn.

    >>> observation("Error: bad box.", with_image=False)
    '<|im_end|>\\n<|im_start|>user\\n<tool_response>\\nError: bad box.\\n</tool_response><|im_end|>\\n<|im_start|>assistant\\n'
    """
    body = (IMAGE if with_image else "") + text
    return f"<|im_end|>\n<|im_start|>user\n<tool_response>\n{body}\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
