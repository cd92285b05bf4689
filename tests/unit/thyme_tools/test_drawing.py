"""Crop and the Draw tools keep the image's frame: same size, lines where the percentages say."""

from PIL import Image

from thyme_tools import drawing


def test_lines_are_drawn_on_a_same_size_copy_at_the_given_pixels():
    image = Image.new("RGB", (200, 100), "white")
    horizontal = drawing.horizontal_lines(image, [25.0])
    vertical = drawing.vertical_lines(image, [150.0])
    assert horizontal.size == vertical.size == image.size
    assert image.getpixel((1, 25)) == (255, 255, 255)  # the original is untouched
    assert horizontal.getpixel((1, 25)) == drawing.LINE_COLOUR and horizontal.getpixel((1, 60)) == (255, 255, 255)
    assert vertical.getpixel((150, 1)) == drawing.LINE_COLOUR and vertical.getpixel((100, 1)) == (255, 255, 255)
    # dashed: a gap after each dash
    assert horizontal.getpixel((drawing.DASH + 4, 25)) == (255, 255, 255)


def test_a_line_at_100_percent_lands_on_the_last_row():
    image = Image.new("RGB", (50, 40), "white")
    assert drawing.horizontal_lines(image, [40.0]).getpixel((0, 39)) == drawing.LINE_COLOUR


def test_crop_returns_the_box():
    image = Image.new("RGB", (200, 100))
    assert drawing.crop(image, (10, 20, 110, 70)).size == (100, 50)
