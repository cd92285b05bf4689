"""ZoomInSubfigure's two halves: find the subplots of a figure, then pick the one asked for.

Detection follows OpenThinkIMG's idea (Canny edges, the largest contours as subplot
candidates) with OpenCV, plus what it leaves out: boxes nested in another candidate are
dropped, so an axis frame inside a panel border counts once, and candidates come back
in reading order (rows top to bottom, then left to right), so "the second subplot"
means what a reader means.

Choosing. OpenThinkIMG asks a hosted Gemini model which candidate matches the title
in `param` (with fixed sleeps and retries). Here the choice goes to any OpenAI-compatible
vision endpoint when one is configured (`VlmChooser`), otherwise to `choose_by_position`,
a documented heuristic that reads the position a request names:
- a panel letter, `(a)`, `(b)`, ... -> that index in reading order;
- an ordinal or number, "first", "second", "3rd", "subplot 2", "figure 4" -> that index;
- "top left", "top right", "bottom left", "bottom right", "top"/"upper", "bottom"/"lower",
  "left", "right" -> the candidate whose centre is furthest that way;
- anything else -> the largest candidate (the main panel of most figures).

Unlike OpenThinkIMG, which returns a list of whited-out copies (one per candidate) that
its inferencer then treats as a single image, the answer is one image: the chosen
subplot, cropped.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]

MAX_CANDIDATES = 10  # OpenThinkIMG keeps the top-10 contours
MIN_AREA_FRACTION = 0.02  # smaller boxes are tick labels, legends, text
MAX_AREA_FRACTION = 0.95  # larger ones are the image border itself


def detect_subplots(image: Image.Image) -> list[Box]:
    """Candidate subplot boxes `(x1, y1, x2, y2)` in reading order; the whole image if none."""
    import cv2

    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, 50, 150)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8), iterations=1)
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    area = image.width * image.height
    boxes: list[Box] = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        if MIN_AREA_FRACTION * area <= w * h <= MAX_AREA_FRACTION * area:
            boxes.append((x, y, x + w, y + h))
    boxes = _outermost(sorted(set(boxes), key=_area, reverse=True))[:MAX_CANDIDATES]
    if not boxes:
        return [(0, 0, image.width, image.height)]
    return reading_order(boxes)


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _outermost(boxes: list[Box], slack: int = 4) -> list[Box]:
    """Drop boxes inside a larger kept box (an axis frame inside its panel's border)."""
    kept: list[Box] = []
    for box in boxes:  # largest first
        if not any(k[0] - slack <= box[0] and k[1] - slack <= box[1] and box[2] <= k[2] + slack
                   and box[3] <= k[3] + slack for k in kept):
            kept.append(box)
    return kept


def reading_order(boxes: list[Box]) -> list[Box]:
    """Rows top to bottom (boxes whose vertical centres are within half a box of each other), then left to right."""
    rows: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: (b[1] + b[3]) / 2):
        centre = (box[1] + box[3]) / 2
        if rows and abs(centre - _row_centre(rows[-1])) <= (box[3] - box[1]) / 2:
            rows[-1].append(box)
        else:
            rows.append([box])
    return [box for row in rows for box in sorted(row, key=lambda b: b[0])]


def _row_centre(row: list[Box]) -> float:
    return sum((b[1] + b[3]) / 2 for b in row) / len(row)


_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10, "last": -1}
_LETTER = re.compile(r"\(([a-j])\)", re.IGNORECASE)
_NUMBERED = re.compile(r"\b(?:sub)?(?:plot|figure|fig\.?|panel|chart|graph)\s*#?\s*(\d+)\b|\b(\d+)(?:st|nd|rd|th)\b",
                       re.IGNORECASE)


@dataclass(frozen=True)
class Choice:
    index: int  # 0-based, into the reading-order candidates
    reason: str


def choose_by_position(request: str, boxes: list[Box]) -> Choice:
    """The heuristic of the module docstring; `request` is the tool's `param`."""
    text = (request or "").lower()
    n = len(boxes)
    if (m := _LETTER.search(text)) and (i := ord(m.group(1).lower()) - ord("a")) < n:
        return Choice(i, f"panel ({m.group(1).lower()})")
    if (m := _NUMBERED.search(text)) and 1 <= (k := int(m.group(1) or m.group(2))) <= n:
        return Choice(k - 1, f"number {k}")
    for word, k in _ORDINALS.items():
        if re.search(rf"\b{word}\b", text) and (k == -1 or k <= n):
            return Choice(n - 1 if k == -1 else k - 1, f"'{word}'")
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
    vertical = -1 if re.search(r"\b(top|upper)\b", text) else 1 if re.search(r"\b(bottom|lower)\b", text) else 0
    horizontal = -1 if re.search(r"\bleft\b", text) else 1 if re.search(r"\bright\b", text) else 0
    if vertical or horizontal:
        scores = [vertical * cy + horizontal * cx for cx, cy in centres]
        return Choice(int(np.argmax(scores)), "position words")
    return Choice(max(range(n), key=lambda i: _area(boxes[i])), "largest (no position named)")


class VlmChooser:
    """Asks an OpenAI-compatible vision endpoint which candidate matches the request.

    The candidates go as numbered images in one user turn; the answer's first integer
    picks one. An unreachable endpoint or an answer without a valid number is an error
    the worker reports (never a silent fallback that would hide an outage).
    """

    def __init__(self, endpoint: str, model: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        self.url = endpoint.rstrip("/") + "/chat/completions"
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout

    def choose(self, request: str, image: Image.Image, boxes: list[Box]) -> Choice:
        import httpx

        content: list[dict] = [{"type": "text", "text": (
            f"The figure has {len(boxes)} subfigures, shown below as images 1 to {len(boxes)}. "
            f"Which one matches: {request!r}? Reply with the number only.")}]
        for box in boxes:
            content.append({"type": "image_url", "image_url": {"url": _data_url(image.crop(box))}})
        body = {"model": self.model, "messages": [{"role": "user", "content": content}],
                "temperature": 0.0, "max_tokens": 8}
        try:
            reply = httpx.post(self.url, json=body, headers=self.headers, timeout=self.timeout)
            reply.raise_for_status()
            text = reply.json()["choices"][0]["message"]["content"] or ""
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise RuntimeError(f"subfigure chooser at {self.url} failed: {type(exc).__name__}: {exc}") from None
        m = re.search(r"\d+", text)
        if not m or not 1 <= int(m.group()) <= len(boxes):
            raise RuntimeError(f"subfigure chooser at {self.url} answered {text!r}, not a number 1-{len(boxes)}")
        return Choice(int(m.group()) - 1, f"chosen by {self.model}")


def _data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
