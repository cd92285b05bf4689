"""Parsing OpenThinkIMG's `param` strings into pixel coordinates.

The conventions are OpenThinkIMG's:
- `Crop` takes `"[x1, y1, x2, y2]"` in integer pixels of the image it is sent.
- `Point`, `SegmentRegionAroundPoint` and the Draw tools speak Molmo's points:
  `x="21.5" y="28.5"` (or `x1="..." y1="..." x2="..." ...`), percentages 0-100 of the
  image's width and height. OpenThinkIMG silently drops a point above 100; here such a
  point is an error that says so, since a call with no point left would do nothing.
- The Draw tools also accept the lone coordinate they use, `y=28.5` / `x=12.6` (quotes
  optional), which is how the tool list in OpenThinkIMG's prompt describes them.
"""

from __future__ import annotations

import json
import math
import re

from thyme_tools.codes import OutOfRange, ToolInputError

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_POINT = re.compile(rf'\bx(\d*)\s*=\s*"?\s*({_NUMBER})\s*"?\s*,?\s*y\1\s*=\s*"?\s*({_NUMBER})\s*"?')
_ONE = r'\b{axis}\d*\s*=\s*"?\s*(' + _NUMBER + r')\s*"?'


def parse_box(param: str | None, width: int, height: int) -> tuple[int, int, int, int]:
    """`[x1, y1, x2, y2]` in pixels, checked against a `width` x `height` image.

    A box that sticks out of the image is clamped to it (a model's box at the very edge
    is often one pixel over); one with no area left inside the image is `OutOfRange`.
    """
    if not param or not param.strip():
        raise ToolInputError("`param` is missing: Crop takes a box \"[x1, y1, x2, y2]\" in pixels")
    try:
        values = json.loads(param.strip())
    except json.JSONDecodeError:
        values = None
    if not (isinstance(values, list) and len(values) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)):
        raise ToolInputError(f"`param` {param!r} is not a box: Crop takes \"[x1, y1, x2, y2]\", four numbers in pixels")
    x1, y1, x2, y2 = (int(round(v)) for v in values)
    if x2 <= x1 or y2 <= y1:
        raise ToolInputError(f"box {values} is empty or inverted: x2 must exceed x1 and y2 exceed y1")
    cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    if cx2 <= cx1 or cy2 <= cy1:
        raise OutOfRange(f"box {values} lies outside the {width}x{height} image")
    return cx1, cy1, cx2, cy2


def parse_points(param: str | None, width: int, height: int) -> list[tuple[float, float]]:
    """Molmo points (`x="21.5" y="28.5"`, percentages) as pixel coordinates."""
    if not param:
        raise ToolInputError('`param` is missing: give a point as x="21.5" y="28.5" (percent of width and height)')
    points = [(float(m.group(2)), float(m.group(3))) for m in _POINT.finditer(param)]
    if not points:
        raise ToolInputError(f'`param` {param!r} holds no point: write x="21.5" y="28.5" (percent of width and height)')
    return [(_percent(x, "x", param) * width / 100, _percent(y, "y", param) * height / 100) for x, y in points]


def parse_axis(param: str | None, axis: str, extent: int) -> list[float]:
    """Every `<axis>` coordinate in `param` (Molmo percentages) as pixels along `extent`.

    `DrawHorizontalLineByY` reads the `y`s, `DrawVerticalLineByX` the `x`s, from either a
    full point (`x="12.6" y="4.8"`) or the lone coordinate (`y=28.5`).
    """
    if not param:
        raise ToolInputError(f"`param` is missing: give {axis}=<percent of the image, 0-100>")
    values = [float(v) for v in re.findall(_ONE.format(axis=axis), param)]
    if not values:
        raise ToolInputError(f"`param` {param!r} has no {axis} coordinate: write {axis}=28.5 (percent, 0-100)")
    return [_percent(v, axis, param) * extent / 100 for v in values]


def _percent(value: float, axis: str, param: str) -> float:
    """`value` itself, checked to be a percentage (callers scale by extent / 100)."""
    if not 0.0 <= value <= 100.0:
        raise OutOfRange(f"{axis}={value:g} in {param!r} is outside the image: coordinates are percentages, 0-100")
    return value
