"""The zoom tool's box rules and the frame it reads boxes in. Pure: numbers and image bytes.

**Which frame.** Qwen2.5-VL never sees the original image: its processor resizes every
image to sides that are multiples of 28 within a pixel budget (`smart_resize`), and the
model's coordinates are absolute pixels of that resized, *shown* frame. verl's tool crops
the image it was handed after qwen-vl-utils' resize, so the crop is right but small;
the original DeepEyes crops the full-size original with the shown-frame numbers, so the
crop is the wrong region whenever the two differ (DeepEyes issue #141). Here the box is
checked in the shown frame (where the rules' pixel sizes mean what the model sees) and
then scaled to the original, which is cropped: the right region at full resolution.

**The rules** (verl's `image_zoom_in_tool`), applied in the shown frame:
1. clamp the box to the image;
2. reject it when inverted or of zero size, or when one side is over 100 times the other;
3. when a side is under 28 px (`MIN_SIDE`), grow the box about its centre until the short
   side is 28, shrinking it to fit the image if it outgrows it, shift it back inside,
   round outwards to whole pixels;
4. check 2 again, and that both sides are now at least 28 px.
Every zoom crops the original input image, never an earlier crop.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

MIN_SIDE = 28  # verl's MIN_DIMENSION; also Qwen2.5-VL's patch factor (14 px patches, merged 2x2)
MAX_ASPECT = 100  # verl rejects boxes whose long side exceeds 100 times the short one
FACTOR = 28
# Qwen2.5-VL's processor defaults (qwen-vl-utils uses the same): 4 and 16384 merged patches.
DEFAULT_MIN_PIXELS = 4 * 28 * 28
DEFAULT_MAX_PIXELS = 16384 * 28 * 28


class BoxRejected(ValueError):
    """The box cannot be cropped; the message is the error observation's text."""


Box = tuple[float, float, float, float]


def smart_resize(height: int, width: int, *, factor: int = FACTOR, min_pixels: int = DEFAULT_MIN_PIXELS,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """The (height, width) the Qwen2-VL image processor resizes an image to.

    Each side is rounded to a multiple of `factor`; if the area is then outside
    [min_pixels, max_pixels], both sides are scaled by the same factor to fit, rounding
    down when shrinking and up when growing, so the budget is never exceeded.

    >>> smart_resize(1000, 1500, max_pixels=512 * 28 * 28)
    (504, 756)
    >>> smart_resize(10, 10)
    (56, 56)
    """
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


@dataclass(frozen=True)
class Frame:
    """An original image's size and the size the model was shown it at."""

    width: int
    height: int
    shown_width: int
    shown_height: int

    @classmethod
    def for_image(cls, width: int, height: int, *, min_pixels: int = DEFAULT_MIN_PIXELS,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> "Frame":
        shown_h, shown_w = smart_resize(height, width, min_pixels=min_pixels, max_pixels=max_pixels)
        return cls(width, height, shown_w, shown_h)

    def to_original(self, box: Box) -> Box:
        """A shown-frame box in original pixels (each axis scaled on its own)."""
        sx, sy = self.width / self.shown_width, self.height / self.shown_height
        return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


def _check(box: Box) -> None:
    left, top, right, bottom = box
    if not (left < right and top < bottom):
        raise BoxRejected(f"Error: the bounding box {list(box)} is inverted or empty after clamping it to the image.")
    width, height = right - left, bottom - top
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise BoxRejected(f"Error: the bounding box {list(box)} has an aspect ratio above {MAX_ASPECT}.")


def fit_box(box: Box, width: int, height: int) -> Box:
    """The box verl's rules make of `box` on a `width` x `height` image, or BoxRejected.

    >>> fit_box((-5, 10, 60, 70), 100, 100)
    (0.0, 10.0, 60.0, 70.0)
    >>> fit_box((40, 40, 50, 45), 100, 100)  # 10 x 5 grows about its centre to 56 x 28.5, rounded outwards
    (17, 28, 73, 57)
    """
    left, top = max(0.0, float(box[0])), max(0.0, float(box[1]))
    right, bottom = min(float(width), float(box[2])), min(float(height), float(box[3]))
    _check((left, top, right, bottom))
    w, h = right - left, bottom - top
    if w >= MIN_SIDE and h >= MIN_SIDE:
        return (left, top, right, bottom)
    scale = MIN_SIDE / min(w, h)
    target_w, target_h = w * scale, h * scale
    if target_w > width:
        target_h, target_w = target_h * width / target_w, float(width)
    if target_h > height:
        target_w, target_h = target_w * height / target_h, float(height)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    new_left = min(max(cx - target_w / 2, 0.0), width - target_w)
    new_top = min(max(cy - target_h / 2, 0.0), height - target_h)
    grown = (math.floor(new_left), math.floor(new_top), math.ceil(new_left + target_w), math.ceil(new_top + target_h))
    _check(grown)
    if grown[2] - grown[0] < MIN_SIDE or grown[3] - grown[1] < MIN_SIDE:
        raise BoxRejected(f"Error: the bounding box {list(box)} results in a crop smaller than the minimum size of "
                          f"{MIN_SIDE}x{MIN_SIDE}.")
    return grown


def original_box(box: Box, frame: Frame) -> tuple[int, int, int, int]:
    """The whole-pixel region of the original that a shown-frame box covers, after the rules.

    Rounded outwards, and clipped to the original, so the crop never loses a sliver the
    model pointed at.
    """
    fitted = frame.to_original(fit_box(box, frame.shown_width, frame.shown_height))
    return (max(0, math.floor(fitted[0] + 1e-6)), max(0, math.floor(fitted[1] + 1e-6)),
            min(frame.width, math.ceil(fitted[2] - 1e-6)), min(frame.height, math.ceil(fitted[3] - 1e-6)))


def zoom(image: bytes, box: Box, *, min_pixels: int = DEFAULT_MIN_PIXELS,
         max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[bytes, tuple[int, int, int, int]]:
    """Crop the original `image` at the region a shown-frame `box` names: (PNG bytes, region)."""
    from PIL import Image

    with Image.open(io.BytesIO(image)) as img:
        img.load()
        frame = Frame.for_image(img.width, img.height, min_pixels=min_pixels, max_pixels=max_pixels)
        region = original_box(box, frame)
        crop = img.convert("RGB").crop(region)
    out = io.BytesIO()
    crop.save(out, "PNG")  # lossless: the crop is what the model looks at next
    return out.getvalue(), region
