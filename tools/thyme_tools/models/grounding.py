"""`grounding_dino`: open-vocabulary detection with transformers' GroundingDINO.

Answer shape, thresholds and NMS follow OpenThinkIMG's worker: `param` (or `caption`)
is the text to find, `box_threshold`/`text_threshold` may come with the call, boxes
overlapping by IoU above 0.8 are merged by non-maximum suppression, and the answer's
`text` is `{"tool_response_from": "grounding_dino", "status": "success", "detections":
[{"label", "confidence", "normalized_bbox": {"x_min", "y_min", "x_max", "y_max"}}]}`
with coordinates as fractions of the image's width and height. OpenThinkIMG's
inferencer never sent the image to this tool (its list of image tools says `grounding`);
our protocol does, and a call without one is an error that says so.
"""

from __future__ import annotations

import numpy as np

from thyme_tools import images
from thyme_tools.codes import ToolInputError
from thyme_tools.models.weights import local_model_dir
from thyme_tools.protocol import GenerateRequest, GenerateResponse
from thyme_tools.settings import WorkerSettings
from thyme_tools.tools import Tool

NMS_IOU = 0.8


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> list[int]:
    """Indices kept by greedy non-maximum suppression, best score first.

    >>> nms(np.array([[0, 0, 10, 10], [0, 0, 10, 9], [20, 20, 30, 30]]), np.array([0.9, 0.8, 0.7]))
    [0, 2]
    """
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order:
        best = int(order.pop(0))
        keep.append(best)
        rest = []
        for j in order:
            xx1, yy1 = max(boxes[best, 0], boxes[j, 0]), max(boxes[best, 1], boxes[j, 1])
            xx2, yy2 = min(boxes[best, 2], boxes[j, 2]), min(boxes[best, 3], boxes[j, 3])
            inter = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
            union = area[best] + area[j] - inter
            if union <= 0 or inter / union <= iou:
                rest.append(j)
        order = rest
    return keep


def caption_of(text: str) -> str:
    """GroundingDINO's caption convention: lower case, ending in a period."""
    caption = text.strip().lower()
    return caption if caption.endswith(".") else caption + "."


class GroundingDino(Tool):
    name = "grounding_dino"

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings

    def load(self) -> None:
        import torch
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        path = local_model_dir(self.settings.model or "", self.settings.model_cache)
        self.processor = AutoProcessor.from_pretrained(path)
        self.model = AutoModelForZeroShotObjectDetection.from_pretrained(path).to(self.settings.device).eval()
        self.torch = torch

    def call(self, request: GenerateRequest) -> GenerateResponse:
        extra = request.extra()
        text = request.param or extra.get("caption")
        if not isinstance(text, str) or not text.strip():
            raise ToolInputError("`param` is missing: name what to detect, e.g. \"the red bar\"")
        image = images.decode(request.image)
        box_threshold = _threshold(extra, "box_threshold", self.settings.box_threshold)
        text_threshold = _threshold(extra, "text_threshold", self.settings.text_threshold)
        inputs = self.processor(images=image, text=caption_of(text), return_tensors="pt").to(self.settings.device)
        with self.torch.inference_mode():
            outputs = self.model(**inputs)
        result = self.processor.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=box_threshold, text_threshold=text_threshold,
            target_sizes=[(image.height, image.width)])[0]
        boxes = result["boxes"].float().cpu().numpy().reshape(-1, 4)
        scores = result["scores"].float().cpu().numpy().reshape(-1)
        # `text_labels` where transformers has it: reading `labels` there warns of a change of meaning
        labels = result["text_labels"] if "text_labels" in result else result["labels"]
        detections = []
        for i in nms(boxes, scores) if len(scores) else []:
            x1, y1, x2, y2 = (float(v) for v in boxes[i])
            detections.append({"label": str(labels[i]), "confidence": round(float(scores[i]), 4), "normalized_bbox": {
                "x_min": round(max(0.0, x1 / image.width), 4), "y_min": round(max(0.0, y1 / image.height), 4),
                "x_max": round(min(1.0, x2 / image.width), 4), "y_max": round(min(1.0, y2 / image.height), 4)}})
        return GenerateResponse(text={"tool_response_from": self.name, "status": "success", "detections": detections})


def _threshold(extra: dict, key: str, default: float) -> float:
    value = extra.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ToolInputError(f"`{key}` {value!r} is not a number between 0 and 1")
    return float(value)
