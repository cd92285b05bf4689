"""Images decode from base64 or a data URL; anything else is a named validation error."""

import base64
import io

import pytest
from PIL import Image

from thyme_tools import images
from thyme_tools.codes import ErrorCode, ToolInputError


def _png(size=(40, 30), mode="RGB") -> str:
    buffer = io.BytesIO()
    Image.new(mode, size, (10, 200, 30) if mode == "RGB" else (10, 200, 30, 128)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_plain_base64_and_a_data_url_decode_to_the_same_rgb_image():
    data = _png()
    plain, url = images.decode(data), images.decode("data:image/png;base64," + data)
    assert plain.size == url.size == (40, 30) and plain.mode == "RGB"
    assert plain.tobytes() == url.tobytes()


@pytest.mark.parametrize("data, match", [
    (None, "missing"), ("", "missing"), ("not base64 !!", "not valid base64"),
    (base64.b64encode(b"plain text, not an image").decode(), "does not decode as an image"),
])
def test_a_bad_image_is_a_validation_error_naming_the_field(data, match):
    with pytest.raises(ToolInputError, match=match) as err:
        images.decode(data)
    assert err.value.code == ErrorCode.VALIDATION_TYPE_ERROR and "`image`" in str(err.value)


def test_encode_writes_jpeg_and_puts_alpha_on_white():
    rgba = images.decode(_png(mode="RGBA"))
    out = Image.open(io.BytesIO(base64.b64decode(images.encode(rgba))))
    assert out.format == "JPEG" and out.size == (40, 30)
