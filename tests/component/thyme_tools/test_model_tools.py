"""The model-backed tools answer OpenThinkIMG's shapes through real workers, with tiny random
models built from configs (GroundingDINO, SAM, and Qwen2.5-VL for Point and OCR), one of
them loaded from a real MinIO store."""

import ast
import base64
import functools
import io
import time

import httpx
import pytest
from PIL import Image

from thyme_tools.codes import ErrorCode
from thyme_tools.settings import WorkerSettings

from .conftest import decode

# generous timeouts: the test machine may be loaded far past its cores
post = functools.partial(httpx.post, timeout=60)
get = functools.partial(httpx.get, timeout=60)

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from thyme_jobs import tinymodel
    from thyme_tools.models import tiny

    base = tmp_path_factory.mktemp("tool-models")
    return {"grounding_dino": tiny.build_grounding_dino(base / "gd"), "sam": tiny.build_sam(base / "sam"),
            "vlm": tinymodel.build(base / "qwen")}


@pytest.fixture(scope="module")
def chart_b64() -> str:
    image = Image.new("RGB", (160, 120), "white")
    for x in range(20, 60):
        for y in range(40, 110):
            image.putpixel((x, y), (200, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_grounding_dino_answers_detections_with_normalised_boxes(start_worker, tiny_models, chart_b64):
    server = start_worker(WorkerSettings(tool="grounding_dino", model=str(tiny_models["grounding_dino"])))
    # thresholds 0 keep every query of the random model, so the answer has detections to check
    body = post(server.url + "/worker_generate", json={"param": "the red bar", "image": chart_b64,
                                                            "box_threshold": 0.0, "text_threshold": 0.0},
                      timeout=60).json()
    assert body["error_code"] == 0, body
    text = body["text"]
    assert text["tool_response_from"] == "grounding_dino" and text["status"] == "success"
    assert 1 <= len(text["detections"]) <= 16  # at most one per query, fewer after NMS
    for det in text["detections"]:
        box = det["normalized_bbox"]
        assert 0 <= box["x_min"] <= box["x_max"] <= 1 and 0 <= box["y_min"] <= box["y_max"] <= 1
        assert 0 <= det["confidence"] <= 1 and isinstance(det["label"], str)
    strict = post(server.url + "/worker_generate", json={"param": "the red bar", "image": chart_b64,
                                                              "box_threshold": 1.0}, timeout=60).json()
    assert strict["error_code"] == 0 and strict["text"]["detections"] == []


def test_grounding_dino_without_an_image_or_with_a_bad_threshold_says_so(start_worker, tiny_models):
    server = start_worker(WorkerSettings(tool="grounding_dino", model=str(tiny_models["grounding_dino"])))
    no_image = post(server.url + "/worker_generate", json={"param": "the red bar"}, timeout=60).json()
    assert no_image["error_code"] == ErrorCode.VALIDATION_TYPE_ERROR and "`image` is missing" in no_image["text"]
    bad = post(server.url + "/worker_generate", json={"param": "bar", "image": "x", "box_threshold": "high"},
                     timeout=60).json()
    assert bad["error_code"] == ErrorCode.VALIDATION_TYPE_ERROR


def test_segment_region_around_point_overlays_one_mask_at_the_image_size(start_worker, tiny_models, chart_b64):
    server = start_worker(WorkerSettings(tool="SegmentRegionAroundPoint", model=str(tiny_models["sam"])))
    body = post(server.url + "/worker_generate", json={"param": 'x1="25" y1="60" x2="30" y2="70"',
                                                            "image": chart_b64}, timeout=60).json()
    assert body["error_code"] == 0 and body["text"] == "Segmentation completed."
    edited = decode(body["edited_image"])
    assert edited.size == (160, 120)
    out = post(server.url + "/worker_generate", json={"param": 'x="101" y="5"', "image": chart_b64}).json()
    assert out["error_code"] == ErrorCode.PARAM_OUT_OF_RANGE


def test_point_and_ocr_answer_text_from_an_image_text_model(start_worker, tiny_models, chart_b64):
    point = start_worker(WorkerSettings(tool="Point", model=str(tiny_models["vlm"]), max_new_tokens=8))
    ocr = start_worker(WorkerSettings(tool="OCR", model=str(tiny_models["vlm"]), max_new_tokens=8))
    call = {"param": "the red bar", "image": chart_b64}
    first = post(point.url + "/worker_generate", json=call, timeout=60).json()
    assert first["error_code"] == 0 and isinstance(first["text"], str)
    assert post(point.url + "/worker_generate", json=call, timeout=60).json() == first  # greedy: repeatable
    read = post(ocr.url + "/worker_generate", json={"image": chart_b64}, timeout=60).json()
    assert read["error_code"] == 0
    lines = ast.literal_eval(read["text"])  # EasyOCR's worker answered str(list of strings)
    assert isinstance(lines, list) and all(isinstance(line, str) for line in lines)
    missing = post(point.url + "/worker_generate", json={"image": chart_b64}, timeout=60).json()
    assert missing["error_code"] == ErrorCode.VALIDATION_TYPE_ERROR


def test_a_model_tool_loads_its_weights_from_the_store(start_worker, tiny_models, minio_server, s3_bucket,
                                                       monkeypatch, tmp_path, chart_b64):
    client = minio_server.client()
    for path in sorted(tiny_models["sam"].rglob("*")):
        if path.is_file():
            client.fput_object(s3_bucket, "models/sam/" + path.relative_to(tiny_models["sam"]).as_posix(), str(path))
    for name, value in minio_server.env().items():
        monkeypatch.setenv(name, value)
    server = start_worker(WorkerSettings(tool="SegmentRegionAroundPoint", model=f"s3://{s3_bucket}/models/sam",
                                         model_cache=str(tmp_path / "cache")))
    body = post(server.url + "/worker_generate", json={"param": 'x="50" y="50"', "image": chart_b64},
                      timeout=60).json()
    assert body["error_code"] == 0 and (tmp_path / "cache").is_dir()


def test_a_model_directory_without_config_fails_the_load_visibly(start_worker, tmp_path):
    server = start_worker(WorkerSettings(tool="grounding_dino", model=str(tmp_path)), ready=False)
    for _ in range(600):
        ready = get(server.url + "/readyz").json()
        if ready["phase"] != "loading":
            break
        time.sleep(0.05)
    assert ready["phase"] == "failed" and "no config.json" in ready["error"]
    assert get(server.url + "/healthz").status_code == 500
