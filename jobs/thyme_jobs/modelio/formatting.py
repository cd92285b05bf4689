"""A converted row as the chat the model sees: system prompt, user turn, assistant turn.

Converted rows keep Thyme's `<image>` placeholders: in the question for the input image,
inside `<sandbox_output>` in the response for each image the sandbox returned (research/
thyme.md section 1.3), one per entry of `row["images"]`, in order. Here each placeholder
becomes an image item of a chat message, so the model's own chat template draws the
vision block (`<|vision_start|><|image_pad|><|vision_end|>` for Qwen2-VL and 2.5-VL) and
nothing of the template is re-implemented. The template is passed in as a callable, so
this module stays pure and tests can see exactly what it does.

The pad count per image depends on the image's size, so it is expanded here too
(`expand_image_pads`): one pad becomes `t*h*w / merge**2` pads, as the Qwen2-VL processor
does, and we keep character offsets of the expanded text for `masking`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

IMAGE_PLACEHOLDER = "<image>"
IMAGE_PAD = "<|image_pad|>"
END_OF_TURN = "<|im_end|>"

Messages = list[dict[str, Any]]
ChatTemplate = Callable[..., str]  # processor.apply_chat_template(messages, tokenize=False, ...)

# The reference's system prompt (scripts/prompt.txt) is not public text we may copy; this
# one states the same contract in our words: reason in <think>, write Python in
# <code>```python ...```</code> that prints the processed image's path or the result,
# read the <sandbox_output>, answer in <answer>.
DEFAULT_SYSTEM_PROMPT = (
    "You are a careful visual reasoner. Think step by step inside <think> and </think>. "
    "When the image needs a closer look (cropping, rotating, raising contrast) or a number "
    "needs computing, write Python between <code> and </code> as a ```python fenced block; "
    "save any processed image and print its path (processed_path), or print the result. "
    "The tool's reply comes back between <sandbox_output> and </sandbox_output>. "
    "Give the final answer inside <answer> and </answer>."
)


class RowFormatError(ValueError):
    """A row that cannot become a training example (named by its id; counted and skipped)."""


@dataclass(frozen=True)
class RenderedRow:
    """The chat text of one row, with one pad per image, and where the response lies.

    `response_start` is the first character the assistant writes; `response_end` is just
    after its `<|im_end|>`, which is learned so the model stops.
    """

    text: str
    response_start: int
    response_end: int
    prompt_images: int  # how many images the system and user turns hold (the rest are the response's)


def split_on_images(text: str) -> list[dict[str, Any]]:
    """Chat content items for text with `<image>` placeholders.

    >>> split_on_images("<image>\\nWhat is it?")
    [{'type': 'image'}, {'type': 'text', 'text': '\\nWhat is it?'}]
    """
    items: list[dict[str, Any]] = []
    for i, part in enumerate(text.split(IMAGE_PLACEHOLDER)):
        if i:
            items.append({"type": "image"})
        if part:
            items.append({"type": "text", "text": part})
    return items


def to_messages(question: str, response: str | None, system_prompt: str | None) -> Messages:
    """System (if any), user and (if given) assistant messages with image items."""
    messages: Messages = []
    if system_prompt:
        messages.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    messages.append({"role": "user", "content": split_on_images(question)})
    if response is not None:
        messages.append({"role": "assistant", "content": split_on_images(response)})
    return messages


def render_row(row: dict[str, Any], system_prompt: str | None, apply_chat_template: ChatTemplate) -> RenderedRow:
    """Render a converted row and locate its response.

    The prompt is rendered alone with the generation prompt; the full chat must start with
    it, which pins the response's start without parsing the template's output.
    """
    question, response = row["question"], row["response"]
    wanted = question.count(IMAGE_PLACEHOLDER) + response.count(IMAGE_PLACEHOLDER)
    if wanted != len(row.get("images", [])):
        raise RowFormatError(f"row {row.get('id')!r}: {wanted} <image> placeholders but "
                             f"{len(row.get('images', []))} images; re-run convert, which checks this")
    prompt = apply_chat_template(to_messages(question, None, system_prompt), tokenize=False,
                                 add_generation_prompt=True)
    full = apply_chat_template(to_messages(question, response, system_prompt), tokenize=False,
                               add_generation_prompt=False)
    if not full.startswith(prompt):
        raise RowFormatError(f"row {row.get('id')!r}: the chat template renders the prompt differently "
                             "alone and before a response; this template cannot be trained on")
    end = full.rfind(END_OF_TURN)
    if end < len(prompt):
        raise RowFormatError(f"row {row.get('id')!r}: no {END_OF_TURN} after the response")
    return RenderedRow(full, len(prompt), end + len(END_OF_TURN), prompt.count(IMAGE_PAD))


def expand_image_pads(rendered: RenderedRow, pads_per_image: Sequence[int]) -> RenderedRow:
    """Repeat each image's pad to its token count, shifting the response offsets.

    >>> r = RenderedRow("U<|image_pad|>|A<|image_pad|>.", 15, 30, 1)
    >>> e = expand_image_pads(r, [2, 1])
    >>> e.text, e.response_start, e.response_end
    ('U<|image_pad|><|image_pad|>|A<|image_pad|>.', 28, 43)
    """
    pieces = rendered.text.split(IMAGE_PAD)
    if len(pieces) - 1 != len(pads_per_image):
        raise RowFormatError(f"{len(pieces) - 1} image pads in the text but {len(pads_per_image)} images")
    out = [pieces[0]]
    for n, piece in zip(pads_per_image, pieces[1:]):
        out.append(IMAGE_PAD * n + piece)
    text = "".join(out)
    grow_before_response = sum(n - 1 for n in pads_per_image[: rendered.prompt_images]) * len(IMAGE_PAD)
    grow_all = sum(n - 1 for n in pads_per_image) * len(IMAGE_PAD)
    return RenderedRow(text, rendered.response_start + grow_before_response,
                       rendered.response_end + grow_all, rendered.prompt_images)
