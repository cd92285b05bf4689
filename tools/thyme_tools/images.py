"""Base64 images in and out, with the failures named instead of raised as tracebacks.

OpenThinkIMG's clients send JPEG or PNG as plain base64 or as a data URL (the
inferencer keeps the `data:image/jpeg;base64,` prefix of the chat message); both decode
here. Answers are JPEG, as OpenThinkIMG's `pil_to_base64` writes them.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings

from PIL import Image

from thyme_tools.codes import ToolInputError

_DATA_URL = re.compile(r"^\s*data:image/[A-Za-z0-9.+-]+;base64,")
# Larger than any chart or photo a VLM sees (Qwen2.5-VL caps at ~12.8 MP), small enough
# that one hostile request cannot make the worker allocate gigabytes.
MAX_PIXELS = 64_000_000


def decode(data: str | None, field: str = "image") -> Image.Image:
    """An RGB image from base64 (or a data URL); `ToolInputError` naming `field` otherwise."""
    if not data:
        raise ToolInputError(f"`{field}` is missing: send the image as base64 (a data:image/...;base64, URL is fine)")
    raw_text = _DATA_URL.sub("", data, count=1)
    try:
        raw = base64.b64decode(raw_text, validate=True)
    except (binascii.Error, ValueError):
        raise ToolInputError(f"`{field}` is not valid base64") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            if image.width * image.height > MAX_PIXELS:
                raise ToolInputError(f"`{field}` is {image.width}x{image.height}: more than {MAX_PIXELS} pixels")
            image.load()
    except ToolInputError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ToolInputError(f"`{field}` does not decode as an image ({type(exc).__name__}: {exc})") from None
    return image.convert("RGB")


def encode(image: Image.Image, quality: int = 95) -> str:
    """Base64 JPEG of an image (alpha dropped onto white, like the converter does)."""
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
