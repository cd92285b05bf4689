"""`SegmentRegionAroundPoint`: SAM (or SAM 2) through transformers, prompted with Molmo points.

As in OpenThinkIMG's worker, `param` holds one or more points as Molmo percentages
(`x="21.5" y="28.5"`, or `x1=.. y1=.. x2=..`), all of them foreground prompts of one
region; the answer is "Segmentation completed." and `edited_image`, the image with the
single best mask laid over it and the points marked. (OpenThinkIMG renders the overlay
through matplotlib; here it is blended with PIL at the image's own size.)
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from thyme_tools import images, params
from thyme_tools.models.weights import local_model_dir
from thyme_tools.protocol import GenerateRequest, GenerateResponse
from thyme_tools.settings import WorkerSettings
from thyme_tools.tools import Tool

MASK_COLOUR = (30, 144, 255)  # the blue SAM's own demos use
MASK_ALPHA = 0.6
POINT_COLOUR = (0, 200, 0)


def overlay(image: Image.Image, mask: np.ndarray, points: list[tuple[float, float]]) -> Image.Image:
    """`image` with `mask` (H x W booleans) blended in and each point marked by a ringed dot."""
    base = np.asarray(image.convert("RGB")).astype(np.float32)
    colour = np.array(MASK_COLOUR, np.float32)
    base[mask] = (1 - MASK_ALPHA) * base[mask] + MASK_ALPHA * colour
    out = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    r = max(3, min(image.size) // 60)
    for x, y in points:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=POINT_COLOUR, outline=(255, 255, 255), width=max(1, r // 3))
    return out


class SegmentRegionAroundPoint(Tool):
    name = "SegmentRegionAroundPoint"

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings

    def load(self) -> None:
        import torch
        from transformers import AutoConfig

        path = local_model_dir(self.settings.model or "", self.settings.model_cache)
        kind = AutoConfig.from_pretrained(path).model_type
        if kind == "sam2":
            from transformers import Sam2Model as Model, Sam2Processor as Processor
        else:
            from transformers import SamModel as Model, SamProcessor as Processor
        self.processor = Processor.from_pretrained(path)
        self.model = Model.from_pretrained(path).to(self.settings.device).eval()
        self.torch = torch

    def call(self, request: GenerateRequest) -> GenerateResponse:
        image = images.decode(request.image)
        points = params.parse_points(request.param, image.width, image.height)
        prompt = [[[[float(x), float(y)] for x, y in points]]]  # image -> object -> points -> (x, y)
        labels = [[[1] * len(points)]]
        inputs = self.processor(images=image, input_points=prompt, input_labels=labels, return_tensors="pt")
        inputs = inputs.to(self.settings.device)
        with self.torch.inference_mode():
            outputs = self.model(**inputs, multimask_output=False)
        masks = self.processor.post_process_masks(outputs.pred_masks.cpu(), inputs["original_sizes"].cpu(),
                                                  *_reshaped(inputs))[0]
        mask = masks.reshape(-1, image.height, image.width)[0].numpy().astype(bool)
        return GenerateResponse(text="Segmentation completed.", edited_image=images.encode(overlay(image, mask, points)))


def _reshaped(inputs) -> list:  # noqa: ANN001 - a BatchFeature
    """SAM's post-processing takes the resized input sizes; SAM 2's does not."""
    return [inputs["reshaped_input_sizes"].cpu()] if "reshaped_input_sizes" in inputs else []
