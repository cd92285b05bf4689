"""Decode, check and (only when needed) convert one image of a Thyme-SFT row. Pure: bytes in, bytes out.

Why keep JPEGs as they are: the release is mostly RGB JPEG; decoding and re-encoding
them costs the reference converter most of its time and loses quality for nothing.
Everything else is converted exactly as the reference script does (modes RGBA, LA and
P: convert to RGBA and paste on white through the alpha; any other non-RGB mode:
convert to RGB; then JPEG quality 95), so the pixels match what the published models
were trained on.

Why decode every image completely even when it is kept: a truncated or corrupt image
must be rejected here, not found by the trainer hours later. For a kept JPEG we ask
libjpeg for a 1/8-scale decode (`draft`): it still reads and entropy-decodes the whole
stream (so truncation still fails) but skips most of the inverse DCT and colour work.
"""

from __future__ import annotations

import binascii
import io
import math
import zlib
from dataclasses import dataclass

import pybase64
from PIL import Image, UnidentifiedImageError

JPEG_QUALITY = 95  # the reference script's setting
TRANSPARENT_MODES = ("RGBA", "LA", "P")  # the modes the reference composites on white

# What Pillow raises for data it cannot decode (truncated streams raise OSError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, Image.DecompressionBombError)


class ImageRejected(ValueError):
    """The image cannot be used; the message says why, for the rejects file."""


@dataclass(frozen=True)
class StoredImage:
    """The bytes to store (always a JPEG) and what was done to get them."""

    data: bytes
    width: int
    height: int
    reencoded: bool
    upscaled: bool = False


#: The Qwen2.5-VL processor refuses a side under its 28 px patch factor, and an aspect
#: ratio above 200; RL rows are brought up to the first and rejected for the second.
MIN_SIDE = 28
MAX_ASPECT_RATIO = 200


def decode_base64(text: str | bytes) -> bytes:
    """Strict base64: an empty string or any non-alphabet character is a rejection, not a guess.

    Why pybase64: its SIMD decoder validates at several GB/s; the standard library's
    `b64decode(validate=True)` ran at about 200 MB/s here and was a fifth of the
    converter's CPU time (a release image is megabytes of base64).
    """
    if not text:
        raise ImageRejected("empty image string")
    try:
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageRejected(f"bad base64 ({exc})") from None


def prepare(raw: bytes) -> StoredImage:
    """Check `raw` decodes completely and return the JPEG bytes to store."""
    try:
        img = Image.open(io.BytesIO(raw))
    except UnidentifiedImageError:  # its message names a memory address; rejects must be reproducible
        raise ImageRejected(f"not an image ({len(raw)} bytes in no format Pillow reads)") from None
    except _DECODE_ERRORS as exc:
        raise ImageRejected(f"not an image ({exc})") from None
    width, height = img.size  # before `draft`, which shrinks the reported size
    with img:
        try:
            if img.format == "JPEG" and img.mode == "RGB":
                _check_jpeg_stream(img)
                return StoredImage(raw, width, height, reencoded=False)
            img.load()
            data = reference_jpeg(img)
        except _DECODE_ERRORS as exc:
            raise ImageRejected(f"image does not decode ({exc})") from None
    return StoredImage(data, width, height, reencoded=True)


def upscale_small(image: StoredImage, min_side: int = MIN_SIDE) -> StoredImage:
    """`image` itself when both sides reach `min_side`; else enlarged (bicubic, aspect kept) so
    the short side is `min_side`, as a quality-95 JPEG.

    Why: DeepEyes' ThinkLite rows hold images with a side under 28 px, which the processor
    cannot take; its recipe says they are upscaled (research notes B4), so we do it once
    here and count it in the manifest. The aspect-ratio bound is checked after.
    """
    width, height = image.width, image.height
    if min(width, height) >= min_side:
        _check_aspect(width, height)
        return image
    scale = min_side / min(width, height)
    size = (max(min_side, math.ceil(width * scale - 1e-9)), max(min_side, math.ceil(height * scale - 1e-9)))
    _check_aspect(*size)
    with Image.open(io.BytesIO(image.data)) as img:
        img.load()
        big = img.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=JPEG_QUALITY)
    return StoredImage(buf.getvalue(), size[0], size[1], reencoded=True, upscaled=True)


def _check_aspect(width: int, height: int) -> None:
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise ImageRejected(f"aspect ratio {width}x{height} is above {MAX_ASPECT_RATIO}, which the processor refuses")


def _check_jpeg_stream(img: Image.Image) -> None:
    """Decode the whole entropy-coded stream at the smallest DCT scale libjpeg offers."""
    img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
    img.load()


def reference_jpeg(img: Image.Image) -> bytes:
    """The reference converter's transform, step for step, so pixels match it exactly."""
    if img.mode in TRANSPARENT_MODES:
        # Converting RGBA to RGBA would only copy the pixels: skip the copy, keep the result.
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, (0, 0), rgba)
        img = background
    elif img.mode != "RGB":
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()
