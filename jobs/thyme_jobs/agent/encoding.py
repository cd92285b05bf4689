"""A trajectory as model inputs: the chat prompt, the assistant turn, images, and the loss mask.

The prompt is the SFT chat (system prompt, user turn with the input image, the
generation prompt), rendered by the model's own chat template through
`modelio.formatting.to_messages` (what SFT renders rows with), so RL sees exactly the
format SFT trained on. The assistant turn is the trajectory's segments: what the policy sampled is text as is; a sandbox
output's `<image>` placeholders become the model's vision block
(`<|vision_start|><|image_pad|><|vision_end|>`), which the processor expands to each
image's patch count.

For training each piece is tokenised on its own and the ids concatenated, so the mask
is exact per piece (prompt and sandbox outputs 0, sampled text 1). A tokeniser may
merge characters across a piece boundary differently when the whole text is tokenised
at once (as generation does); with Thyme's tags as the boundaries this is rare and only
shifts which ids stand for the same text.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import torch

from thyme_jobs.agent.loop import IMAGE, Trajectory
from thyme_jobs.modelio import formatting

VISION_BLOCK = "<|vision_start|><|image_pad|><|vision_end|>"


@dataclass
class EncodedTrajectory:
    """Model inputs of one trajectory.

    `loss_mask[t]` is True where token t was sampled by the policy. Example, with the
    prompt and a sandbox output masked:

        tokens     <prompt...> <think> crop <code> ... </code> <sandbox_output> <img> </sandbox_output> <answer> B </answer>
        loss_mask   0 ... 0      1      1     1    ...   1          0             0          0              1     1     1
    """

    input_ids: torch.Tensor  # [T] long
    loss_mask: torch.Tensor  # [T] bool
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # pixel_values, image_grid_thw, ...


def decode_image(data: bytes) -> Any:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


class TrajectoryEncoder:
    """Renders and tokenises trajectories for one processor (tokenizer + image processor)."""

    def __init__(self, processor: Any, system_prompt: str | None) -> None:
        self.processor = processor
        self.system_prompt = system_prompt

    def prompt_text(self, t: Trajectory) -> str:
        messages = formatting.to_messages(t.question, None, self.system_prompt)
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    @staticmethod
    def segment_text(text: str, trainable: bool) -> str:
        return text if trainable else text.replace(IMAGE, VISION_BLOCK)

    def context_text(self, t: Trajectory) -> str:
        """The prompt and the assistant turn so far: what the engine continues."""
        return self.prompt_text(t) + "".join(self.segment_text(s.text, s.trainable) for s in t.segments)

    @staticmethod
    def images(t: Trajectory) -> list[Any]:
        """Every image of the trajectory in text order: the input first, then the sandbox's."""
        return [decode_image(b) for b in t.input_images] + [decode_image(b) for s in t.segments for b in s.images]

    def model_inputs(self, text: str, images: list[Any]) -> dict[str, torch.Tensor]:
        out = self.processor(text=[text], images=images or None, return_tensors="pt")
        return dict(out)

    def encode(self, t: Trajectory) -> EncodedTrajectory:
        """Token ids, loss mask and vision inputs of a finished trajectory."""
        pieces = [(self.prompt_text(t), [decode_image(b) for b in t.input_images], False)]
        pieces += [
            (self.segment_text(s.text, s.trainable), [decode_image(b) for b in s.images], s.trainable)
            for s in t.segments
        ]
        ids: list[torch.Tensor] = []
        masks: list[torch.Tensor] = []
        pixels: list[torch.Tensor] = []
        grids: list[torch.Tensor] = []
        for text, images, trainable in pieces:
            if not text:
                continue
            out = self.model_inputs(text, images)
            piece = out["input_ids"][0]
            ids.append(piece)
            masks.append(torch.full(piece.shape, trainable, dtype=torch.bool))
            if images:
                pixels.append(out["pixel_values"])
                grids.append(out["image_grid_thw"])
        extra = {"pixel_values": torch.cat(pixels), "image_grid_thw": torch.cat(grids)} if pixels else {}
        return EncodedTrajectory(torch.cat(ids), torch.cat(masks), extra)
