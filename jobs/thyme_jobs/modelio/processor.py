"""Load a Qwen2-VL / Qwen2.5-VL processor from a model directory, with or without torchvision.

transformers 5.x builds these processors with a video processor, and its video processors
need torchvision, which the CPU test environment does not install (only the GPU image
does, with vLLM). Without it `AutoProcessor.from_pretrained` fails although we never
touch video. So `load_processor` uses `AutoProcessor` when torchvision is there, and
otherwise `ImageTextProcessor`: the directory's own tokenizer (AutoTokenizer), image
processor (AutoImageProcessor, the PIL backend) and chat template, with the one piece of
the real processor's behaviour we rely on, expanding each `<|image_pad|>` to the image's
token count. Both expose `.tokenizer`, `.image_processor`, `.apply_chat_template(...)`,
`__call__(text=..., images=...)`, `decode`, `batch_decode` and `save_pretrained`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

IMAGE_PAD = "<|image_pad|>"


class ImageTextProcessor:
    """Tokenizer + image processor + chat template, as the Qwen2-VL processor combines them."""

    def __init__(self, tokenizer: Any, image_processor: Any, chat_template: str | None = None) -> None:
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.chat_template = chat_template or getattr(tokenizer, "chat_template", None)
        self.image_token = IMAGE_PAD
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_PAD)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> "ImageTextProcessor":
        from transformers import AutoImageProcessor, AutoTokenizer

        path = Path(path)
        template = path / "chat_template.jinja"
        chat_template = template.read_text() if template.is_file() else None
        if chat_template is None and (path / "chat_template.json").is_file():
            chat_template = json.loads((path / "chat_template.json").read_text())["chat_template"]
        return cls(AutoTokenizer.from_pretrained(path), AutoImageProcessor.from_pretrained(path), chat_template)

    def apply_chat_template(self, conversation: list[dict[str, Any]], **kwargs: Any) -> Any:
        return self.tokenizer.apply_chat_template(conversation, chat_template=self.chat_template, **kwargs)

    def __call__(self, text: str | list[str], images: list[Any] | None = None, **kwargs: Any) -> Any:
        from transformers import BatchFeature

        texts = [text] if isinstance(text, str) else list(text)
        vision: dict[str, Any] = {}
        if images:
            vision = dict(self.image_processor(images=images, return_tensors="pt"))
            merge = self.image_processor.merge_size ** 2
            counts = iter(int(g.prod()) // merge for g in vision["image_grid_thw"])
            expanded = []
            for t in texts:
                parts = t.split(IMAGE_PAD)
                expanded.append(parts[0] + "".join(IMAGE_PAD * next(counts) + p for p in parts[1:]))
            texts = expanded
        kwargs.setdefault("add_special_tokens", False)
        enc = self.tokenizer(texts, **kwargs)
        return BatchFeature({**enc, **vision}, tensor_type=kwargs.get("return_tensors"))

    def decode(self, *args: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(*args, **kwargs)

    def batch_decode(self, *args: Any, **kwargs: Any) -> list[str]:
        return self.tokenizer.batch_decode(*args, **kwargs)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(path)
        self.image_processor.save_pretrained(path)
        if self.chat_template:
            (path / "chat_template.jinja").write_text(self.chat_template)
        # what AutoProcessor reads where torchvision is installed (the GPU image)
        config = path / "processor_config.json"
        if not config.is_file():
            config.write_text(json.dumps({"processor_class": "Qwen2_5_VLProcessor"}, indent=2) + "\n")


def load_processor(path: str | os.PathLike) -> Any:
    """The model directory's processor: AutoProcessor with torchvision, else ImageTextProcessor."""
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(path)
    return ImageTextProcessor.from_pretrained(path)
