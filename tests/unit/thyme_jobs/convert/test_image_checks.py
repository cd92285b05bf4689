"""Image handling: RGB JPEGs kept byte for byte, everything else converted like the reference, damage caught."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from thyme_jobs.convert import images
from reference_conversion import reference_jpeg


def _picture(mode: str = "RGB", size: tuple[int, int] = (120, 90)) -> Image.Image:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    if mode == "RGBA":
        rgba = rgb.convert("RGBA")
        rgba.putalpha(Image.linear_gradient("L").resize(size))
        return rgba
    if mode == "P":
        return rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    return rgb.convert(mode)


def _encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_rgb_jpeg_is_stored_byte_for_byte() -> None:
    raw = _encoded(_picture(), "JPEG", quality=85)
    stored = images.prepare(raw)
    assert stored.data == raw and not stored.reencoded
    assert (stored.width, stored.height) == (120, 90)


@pytest.mark.parametrize(("mode", "fmt"), [("RGB", "PNG"), ("RGBA", "PNG"), ("P", "PNG"), ("LA", "PNG"),
                                           ("L", "JPEG"), ("CMYK", "JPEG"), ("L", "PNG")])
def test_other_images_match_the_reference_conversion_exactly(mode: str, fmt: str) -> None:
    raw = _encoded(_picture(mode), fmt)
    stored = images.prepare(raw)
    assert stored.reencoded
    assert stored.data == reference_jpeg(raw)
    with Image.open(io.BytesIO(stored.data)) as out:
        assert out.format == "JPEG" and out.mode == "RGB"


def test_transparent_pixels_become_white() -> None:
    clear = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    stored = images.prepare(_encoded(clear, "PNG"))
    with Image.open(io.BytesIO(stored.data)) as out:
        assert np.asarray(out).min() > 245


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_images_are_rejected(fmt: str) -> None:
    raw = _encoded(_picture(size=(300, 200)), fmt)
    with pytest.raises(images.ImageRejected, match="does not decode"):
        images.prepare(raw[: len(raw) // 2])


def test_jpeg_missing_only_its_tail_is_rejected() -> None:
    raw = _encoded(_picture(size=(300, 200)), "JPEG", quality=90)
    with pytest.raises(images.ImageRejected):
        images.prepare(raw[:-200])


def test_bytes_that_are_no_image_are_rejected_reproducibly() -> None:
    with pytest.raises(images.ImageRejected) as first:
        images.prepare(b"this is not an image " * 10)
    with pytest.raises(images.ImageRejected) as second:
        images.prepare(b"this is not an image " * 10)
    assert str(first.value) == str(second.value) and "not an image" in str(first.value)


@pytest.mark.parametrize(("text", "reason"), [("", "empty image string"), ("abc!!", "bad base64"),
                                              ("QUJD=extra", "bad base64")])
def test_bad_base64_is_rejected(text: str, reason: str) -> None:
    with pytest.raises(images.ImageRejected, match=reason):
        images.decode_base64(text)


def test_valid_base64_round_trips() -> None:
    assert images.decode_base64(base64.b64encode(b"\x00\xffdata").decode()) == b"\x00\xffdata"
