"""ZoomInSubfigure crops the subplot a request names: by the heuristic, or by a VLM endpoint's choice.

The VLM is a real HTTP server speaking the OpenAI chat API that answers a fixed number:
a hosted vision model is a boundary these tests cannot run.
"""

import base64
import functools
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from PIL import Image, ImageDraw

from thyme_tools.codes import ErrorCode
from thyme_tools.settings import WorkerSettings

from .conftest import decode

# generous timeouts: the test machine may be loaded far past its cores
post = functools.partial(httpx.post, timeout=60)
get = functools.partial(httpx.get, timeout=60)


def _figure_b64() -> tuple[str, list[tuple]]:
    image = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(image)
    frames = [(15, 15, 185, 135), (215, 15, 385, 135), (15, 165, 185, 285), (215, 165, 385, 285)]
    for i, box in enumerate(frames):
        draw.rectangle(box, outline="black", width=2)
        draw.rectangle((box[0] + 20, box[3] - 30 - 10 * i, box[0] + 50, box[3] - 2), fill=(200, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode(), frames


class ChatServer:
    """An OpenAI-compatible /v1/chat/completions that answers `reply` and records the requests."""

    def __init__(self, reply: str) -> None:
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("authorization"), "body": body})
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_the_heuristic_zooms_into_the_named_panel(start_worker):
    image, frames = _figure_b64()
    server = start_worker(WorkerSettings(tool="ZoomInSubfigure"))
    body = post(server.url + "/worker_generate", json={"param": "the bottom right subplot", "image": image}).json()
    assert body["error_code"] == 0 and "subfigure 4 of 4" in body["text"]
    crop = decode(body["edited_image"])  # one image, not OpenThinkIMG's list
    w, h = frames[3][2] - frames[3][0], frames[3][3] - frames[3][1]
    assert abs(crop.width - w) <= 6 and abs(crop.height - h) <= 6


def test_a_configured_vlm_chooses_the_subplot(start_worker, monkeypatch):
    vlm = ChatServer("Subfigure 2.")
    monkeypatch.setenv("TEST_CHOOSER_KEY", "k-123")
    try:
        image, _ = _figure_b64()
        server = start_worker(WorkerSettings(tool="ZoomInSubfigure", chooser_endpoint=vlm.url, chooser_model="vlm",
                                             chooser_api_key_env="TEST_CHOOSER_KEY"))
        body = post(server.url + "/worker_generate", json={"param": "Revenue", "image": image}).json()
    finally:
        vlm.close()
    assert body["error_code"] == 0 and "subfigure 2 of 4 (chosen by vlm)" in body["text"]
    sent = vlm.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer k-123"
    images = [c for c in sent["body"]["messages"][0]["content"] if c["type"] == "image_url"]
    assert len(images) == 4 and "Revenue" in sent["body"]["messages"][0]["content"][0]["text"]


@pytest.mark.parametrize("reply", ["I cannot tell", "7"])
def test_a_vlm_answer_without_a_valid_number_is_an_error_not_a_guess(start_worker, reply):
    vlm = ChatServer(reply)
    try:
        image, _ = _figure_b64()
        server = start_worker(WorkerSettings(tool="ZoomInSubfigure", chooser_endpoint=vlm.url))
        body = post(server.url + "/worker_generate", json={"param": "Revenue", "image": image}).json()
    finally:
        vlm.close()
    assert body["error_code"] == ErrorCode.INTERNAL_ERROR and "not a number 1-4" in body["text"]


def test_an_unreachable_vlm_is_an_error_naming_it(start_worker):
    image, _ = _figure_b64()
    server = start_worker(WorkerSettings(tool="ZoomInSubfigure", chooser_endpoint="http://127.0.0.1:9/v1",
                                         call_timeout=10))
    body = post(server.url + "/worker_generate", json={"param": "Revenue", "image": image}).json()
    assert body["error_code"] == ErrorCode.INTERNAL_ERROR and "127.0.0.1:9/v1/chat/completions" in body["text"]


def test_a_missing_title_is_a_validation_error(start_worker):
    image, _ = _figure_b64()
    server = start_worker(WorkerSettings(tool="ZoomInSubfigure"))
    body = post(server.url + "/worker_generate", json={"param": " ", "image": image}).json()
    assert body["error_code"] == ErrorCode.VALIDATION_TYPE_ERROR
