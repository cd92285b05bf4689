"""verl's box rules, one by one, and the frame mapping from the shown image to the original."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from thyme_jobs.deepeyes import boxes
from thyme_jobs.deepeyes.boxes import BoxRejected, Frame


def test_a_box_is_clamped_to_the_image() -> None:
    assert boxes.fit_box((-20, -5, 130, 90), 100, 80) == (0.0, 0.0, 100.0, 80.0)


@pytest.mark.parametrize("box", [(50, 10, 40, 60), (10, 60, 50, 20), (30, 30, 30, 60), (10, 10, 60, 10),
                                 (120, 10, 150, 50)])
def test_inverted_empty_or_outside_boxes_are_rejected(box) -> None:
    with pytest.raises(BoxRejected, match="inverted or empty"):
        boxes.fit_box(box, 100, 100)


def test_an_aspect_ratio_above_100_is_rejected_and_100_is_not() -> None:
    with pytest.raises(BoxRejected, match="aspect ratio above 100"):
        boxes.fit_box((0, 0, 3000, 29), 4000, 4000)
    assert boxes.fit_box((0, 0, 2900, 29), 4000, 4000) == (0.0, 0.0, 2900.0, 29.0)


def test_a_short_side_grows_about_the_centre_to_28() -> None:
    left, top, right, bottom = boxes.fit_box((100, 100, 110, 150), 400, 400)
    assert right - left >= 28 and (left + right) / 2 == pytest.approx(105, abs=1)
    assert bottom - top >= 140  # the aspect ratio is kept: 10x50 becomes 28x140
    assert all(isinstance(v, int) for v in (left, top, right, bottom))


def test_a_grown_box_is_shifted_back_inside_the_image() -> None:
    left, top, right, bottom = boxes.fit_box((0, 0, 5, 5), 100, 100)
    assert (left, top) == (0, 0) and right - left >= 28 and bottom - top >= 28
    left, top, right, bottom = boxes.fit_box((95, 95, 100, 100), 100, 100)
    assert (right, bottom) == (100, 100) and right - left >= 28


def test_a_box_that_cannot_reach_28_in_a_small_image_is_rejected() -> None:
    with pytest.raises(BoxRejected, match="smaller than the minimum size of 28x28"):
        boxes.fit_box((0, 0, 2, 20), 20, 20)  # the image itself is under 28 px


def test_smart_resize_matches_the_processor_for_the_tiny_model() -> None:
    from thyme_jobs import tinymodel

    processor = tinymodel.build_processor(min_pixels=56 * 56, max_pixels=224 * 224)
    image = Image.new("RGB", (500, 300))
    grid = processor.image_processor(images=[image], return_tensors="pt")["image_grid_thw"][0].tolist()
    h, w = boxes.smart_resize(300, 500, min_pixels=56 * 56, max_pixels=224 * 224)
    assert (grid[1] * 14, grid[2] * 14) == (h, w)


def test_the_frame_maps_shown_pixels_to_original_pixels_per_axis() -> None:
    frame = Frame.for_image(1000, 700, max_pixels=256 * 28 * 28)
    assert (frame.shown_width, frame.shown_height) != (1000, 700)
    assert frame.to_original((0, 0, frame.shown_width, frame.shown_height)) == pytest.approx((0, 0, 1000, 700))


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_a_box_drawn_on_the_shown_image_crops_the_same_content_from_the_original() -> None:
    """The frame mismatch of DeepEyes issue #141 must not exist: the model points at the
    resized image it sees, and the crop of the full-size original shows that very region."""
    max_pixels = 256 * 28 * 28
    original = Image.linear_gradient("L").resize((1600, 1000)).convert("RGB")
    draw = ImageDraw.Draw(original)
    draw.rectangle((1100, 600, 1400, 820), fill=(220, 30, 30))  # the object to find
    draw.ellipse((1200, 660, 1300, 760), fill=(20, 20, 200))
    frame = Frame.for_image(*original.size, max_pixels=max_pixels)
    shown = original.resize((frame.shown_width, frame.shown_height), Image.Resampling.BICUBIC)

    # The model "draws" its box on the shown image: the red object's extent there.
    red = shown.convert("RGB").point(lambda v: 255 if v > 160 else 0).split()[0]
    not_green = ImageChops.invert(shown.split()[1].point(lambda v: 255 if v > 90 else 0))
    box = ImageChops.multiply(red, not_green).getbbox()
    assert box is not None
    crop_bytes, region = boxes.zoom(_png(original), box, max_pixels=max_pixels)
    crop = Image.open(io.BytesIO(crop_bytes)).convert("RGB")

    # The same content: the crop, shrunk to the box's shown size, is the shown region.
    expected = shown.crop(box)
    diff = ImageChops.difference(crop.resize(expected.size, Image.Resampling.BICUBIC), expected)
    assert max(ImageStat.Stat(diff).mean) < 12
    assert region == pytest.approx((1100, 600, 1401, 821), abs=frame.width / frame.shown_width + 1)
    assert crop.size[0] > expected.size[0]  # cut at full resolution, not from the small frame

    # Cropping the original with shown-frame numbers (the #141 bug) would show something else.
    wrong = original.crop(box).resize(expected.size)
    assert max(ImageStat.Stat(ImageChops.difference(wrong, expected)).mean) > 40


def test_every_zoom_crops_the_original_never_an_earlier_crop() -> None:
    original = Image.new("RGB", (600, 400), (255, 255, 255))
    ImageDraw.Draw(original).rectangle((0, 0, 299, 399), fill=(0, 0, 0))
    data = _png(original)
    frame = Frame.for_image(600, 400)
    first, _ = boxes.zoom(data, (0, 0, frame.shown_width / 2, frame.shown_height))
    second, region = boxes.zoom(data, (frame.shown_width / 2, 0, frame.shown_width, frame.shown_height))
    assert Image.open(io.BytesIO(first)).getpixel((10, 10)) == (0, 0, 0)
    assert Image.open(io.BytesIO(second)).getpixel((10, 10)) == (255, 255, 255)
    assert region[2] == 600
