"""A Crop/Draw worker speaks OpenThinkIMG's worker API, and bad input gets its error codes, never a 500."""

import functools

import httpx
import pytest

from thyme_tools.codes import ErrorCode
from thyme_tools.settings import WorkerSettings

from .conftest import decode

# generous timeouts: the test machine may be loaded far past its cores
post = functools.partial(httpx.post, timeout=60)
get = functools.partial(httpx.get, timeout=60)


@pytest.fixture
def crop(start_worker):
    return start_worker(WorkerSettings(tool="Crop"))


def test_crop_answers_text_error_code_and_the_cropped_image(crop, photo_b64):
    reply = post(crop.url + "/worker_generate", json={"param": "[10, 20, 110, 70]", "image": photo_b64})
    body = reply.json()
    assert reply.status_code == 200 and body["error_code"] == 0 and body["text"] == "Image cropped successfully."
    assert decode(body["edited_image"]).size == (100, 50)


def test_a_data_url_image_and_a_list_param_are_accepted(crop, photo_b64):
    reply = post(crop.url + "/worker_generate",
                       json={"param": [0, 0, 32, 24], "image": "data:image/jpeg;base64," + photo_b64,
                             "box_threshold": 0.3})
    assert reply.json()["error_code"] == 0 and decode(reply.json()["edited_image"]).size == (32, 24)


@pytest.mark.parametrize("body, code, words", [
    ({"param": "[1, 2, 3, 4]", "image": "%%% not base64"}, ErrorCode.VALIDATION_TYPE_ERROR, "not valid base64"),
    ({"param": "[1, 2, 3, 4]", "image": "aGVsbG8="}, ErrorCode.VALIDATION_TYPE_ERROR, "does not decode"),
    ({"param": "[1, 2, 3, 4]"}, ErrorCode.VALIDATION_TYPE_ERROR, "`image` is missing"),
    ({"param": "left half", "image": None}, ErrorCode.VALIDATION_TYPE_ERROR, "`image` is missing"),
    ({"param": "[400, 300, 500, 400]", "image": "PHOTO"}, ErrorCode.PARAM_OUT_OF_RANGE, "outside the 320x240 image"),
    ({"param": "the left half", "image": "PHOTO"}, ErrorCode.VALIDATION_TYPE_ERROR, "is not a box"),
    ({"param": 12, "image": "PHOTO"}, ErrorCode.VALIDATION_TYPE_ERROR, "`param`"),
    ([1, 2, 3], ErrorCode.VALIDATION_TYPE_ERROR, "bad request body"),
])
def test_bad_input_answers_an_openthinkimg_code_and_a_message(crop, photo_b64, body, code, words):
    if isinstance(body, dict) and body.get("image") == "PHOTO":
        body = {**body, "image": photo_b64}
    reply = post(crop.url + "/worker_generate", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["error_code"] == code and words in reply.json()["text"]
    assert "Traceback" not in reply.text and "edited_image" not in reply.json()


def test_a_body_that_is_not_json_is_a_validation_error(crop):
    reply = post(crop.url + "/worker_generate", content=b"{param: nope", headers={"content-type": "application/json"})
    assert reply.status_code == 200 and reply.json()["error_code"] == ErrorCode.VALIDATION_TYPE_ERROR


def test_worker_get_status_names_the_tool(crop):
    for method in (post, get):
        status = method(crop.url + "/worker_get_status").json()
        assert status["model_names"] == ["Crop"] and status["queue_length"] == 0 and status["ready"] is True


@pytest.mark.parametrize("tool, param, pixel", [
    ("DrawHorizontalLineByY", "y=50", (5, 120)),
    ("DrawVerticalLineByX", 'x="25" y="80"', (80, 5)),
])
def test_draw_tools_answer_a_same_size_image_with_the_line(start_worker, photo_b64, tool, param, pixel):
    server = start_worker(WorkerSettings(tool=tool))
    body = post(server.url + "/worker_generate", json={"param": param, "image": photo_b64}).json()
    assert body["error_code"] == 0 and body["text"] == "Line drawn successfully."
    edited = decode(body["edited_image"]).convert("RGB")
    assert edited.size == (320, 240)
    r, g, b = edited.getpixel(pixel)
    assert r > 180 and g < 80 and b < 120  # the red line, through JPEG


def test_draw_with_a_percentage_above_100_is_out_of_range(start_worker, photo_b64):
    server = start_worker(WorkerSettings(tool="DrawHorizontalLineByY"))
    body = post(server.url + "/worker_generate", json={"param": "y=250", "image": photo_b64}).json()
    assert body["error_code"] == ErrorCode.PARAM_OUT_OF_RANGE and "0-100" in body["text"]
