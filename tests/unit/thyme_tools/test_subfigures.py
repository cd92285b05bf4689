"""Subplots are found with OpenCV in reading order, and the heuristic picks the one a request names."""

import pytest
from PIL import Image, ImageDraw

from thyme_tools import subfigures


def grid_figure(rows: int = 2, cols: int = 2, size=(400, 300)) -> tuple[Image.Image, list[tuple]]:
    """White figure with `rows x cols` framed panels, each with a few bars inside; returns it and the frames."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    w, h = size[0] // cols, size[1] // rows
    frames = []
    for r in range(rows):
        for c in range(cols):
            box = (c * w + 15, r * h + 15, (c + 1) * w - 15, (r + 1) * h - 15)
            draw.rectangle(box, outline="black", width=2)
            for k in range(3):
                x = box[0] + 20 + k * 40
                draw.rectangle((x, box[3] - 20 - 15 * (k + r + c), x + 20, box[3] - 2), fill=(40, 90, 200))
            frames.append(box)
    return image, frames


def test_a_grid_of_panels_is_found_in_reading_order():
    image, frames = grid_figure()
    boxes = subfigures.detect_subplots(image)
    assert len(boxes) == 4
    for found, frame in zip(boxes, frames):
        assert all(abs(a - b) <= 4 for a, b in zip(found, frame)), (found, frame)


def test_a_figure_without_panels_is_one_subplot():
    image = Image.new("RGB", (120, 80), "white")
    assert subfigures.detect_subplots(image) == [(0, 0, 120, 80)]


BOXES = [(0, 0, 100, 100), (110, 0, 210, 100), (0, 110, 100, 210), (110, 110, 260, 260)]


@pytest.mark.parametrize("request_text, index", [
    ("(b)", 1), ("subplot 3", 2), ("the third chart", 2), ("2nd", 1), ("the last one", 3),
    ("top left panel", 0), ("upper right", 1), ("bottom left", 2), ("lower right", 3),
    ("Revenue by year", 3),  # nothing positional: the largest
])
def test_the_heuristic_reads_letters_numbers_ordinals_and_positions(request_text, index):
    assert subfigures.choose_by_position(request_text, BOXES).index == index


def test_a_number_past_the_candidates_falls_through_to_the_largest():
    assert subfigures.choose_by_position("subplot 9", BOXES).index == 3
