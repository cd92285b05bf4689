"""The pure image work of Crop and the Draw tools: PIL images in, PIL images out.

OpenThinkIMG draws its lines by re-rendering the image through a matplotlib figure,
which can change the image's size by a pixel or two (figure inches times dpi, then a
tight bounding box). A model that reads coordinates off the edited image needs the same
frame as the original, so here the line is drawn on a copy of the pixels: same size,
same colour (`#e6194b`), width 2, dashed.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

LINE_COLOUR = (0xE6, 0x19, 0x4B)
LINE_WIDTH = 2
DASH = 8  # pixels drawn, then pixels skipped


def crop(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    return image.crop(box)


def horizontal_lines(image: Image.Image, ys: list[float]) -> Image.Image:
    out = image.copy()
    draw = ImageDraw.Draw(out)
    for y in ys:
        row = min(int(round(y)), image.height - 1)
        for x in range(0, image.width, 2 * DASH):
            draw.line([(x, row), (min(x + DASH, image.width - 1), row)], fill=LINE_COLOUR, width=LINE_WIDTH)
    return out


def vertical_lines(image: Image.Image, xs: list[float]) -> Image.Image:
    out = image.copy()
    draw = ImageDraw.Draw(out)
    for x in xs:
        col = min(int(round(x)), image.width - 1)
        for y in range(0, image.height, 2 * DASH):
            draw.line([(col, y), (col, min(y + DASH, image.height - 1))], fill=LINE_COLOUR, width=LINE_WIDTH)
    return out
