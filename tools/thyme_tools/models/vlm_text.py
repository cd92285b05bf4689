"""`Point` and `OCR`: an image-text-to-text model from the store, asked one question.

`Point` asks as OpenThinkIMG asks Molmo, "Point to the {param} in the scene.", and
answers the model's text as it is (Molmo writes `<point x="10.1" y="12.6" ...>`, the
percentages the Draw and SAM tools read). `OCR` asks for the text in the image and
answers the lines as a Python list string, the shape of OpenThinkIMG's EasyOCR worker
(`str(list_of_strings)`). Greedy decoding: a tool should answer the same call the same way.
"""

from __future__ import annotations

from thyme_tools import images
from thyme_tools.codes import ToolInputError
from thyme_tools.models.weights import local_model_dir
from thyme_tools.protocol import GenerateRequest, GenerateResponse
from thyme_tools.settings import WorkerSettings
from thyme_tools.tools import Tool

POINT_PROMPT = "Point to the {param} in the scene."
OCR_PROMPT = "Read all the text in the image. Write each piece of text on its own line."


class ImageQuestion(Tool):
    """Load the model once; answer `prompt(request)` about the request's image."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings

    def load(self) -> None:
        import torch
        from transformers import AutoModelForImageTextToText

        from thyme_jobs.modelio.processor import load_processor

        path = local_model_dir(self.settings.model or "", self.settings.model_cache)
        self.processor = load_processor(path)
        self.model = AutoModelForImageTextToText.from_pretrained(path).to(self.settings.device).eval()
        self.torch = torch

    def ask(self, image, prompt: str) -> str:  # noqa: ANN001 - a PIL image
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = self.processor(text=[text], images=[image], return_tensors="pt").to(self.settings.device)
        with self.torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.settings.max_new_tokens, do_sample=False)
        new = out[0, inputs["input_ids"].shape[1]:]
        return self.processor.decode(new, skip_special_tokens=True).strip()


class Point(ImageQuestion):
    name = "Point"

    def call(self, request: GenerateRequest) -> GenerateResponse:
        if not request.param or not request.param.strip():
            raise ToolInputError("`param` is missing: describe what to point at, e.g. \"the tallest bar\"")
        image = images.decode(request.image)
        return GenerateResponse(text=self.ask(image, POINT_PROMPT.format(param=request.param.strip())))


class OCR(ImageQuestion):
    name = "OCR"

    def call(self, request: GenerateRequest) -> GenerateResponse:
        image = images.decode(request.image)
        lines = [line.strip() for line in self.ask(image, OCR_PROMPT).splitlines() if line.strip()]
        return GenerateResponse(text=str(lines))
