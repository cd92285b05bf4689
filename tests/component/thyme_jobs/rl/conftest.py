"""Real servers for the rl component tests: a scripted OpenAI-compatible judge and the sandbox.

The judge stands in for a 72B model behind vLLM's OpenAI server: a real HTTP server on a
loopback port that answers /v1/chat/completions with verdicts decided by a small rule
(the given answer contains the reference answer), and that a test can switch to failing
(503), hanging past the client's time limit, or answering without a verdict.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@dataclass
class JudgeBehaviour:
    # ok | fail | hang | garbage | not_found | obedient (does what the graded answer tells it)
    mode: str = "ok"
    hang_seconds: float = 5.0
    consistency: int = 1
    requests: list[dict] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    delay: float = 0.0
    healthy: bool = True  # else 503 on GET /health and on every request (vLLM still loading its weights)
    health_checks: int = 0
    refused: int = 0  # requests answered 503 because the judge was not up yet


class JudgeServer:
    def __init__(self) -> None:
        self.behaviour = JudgeBehaviour()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - vLLM's /health, beside /v1
                b = server.behaviour
                b.health_checks += 1
                if self.path != "/health":
                    return self._send(404, {"error": "no such route"})
                self._send(200 if b.healthy else 503, {})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                b = server.behaviour
                with server.lock:
                    b.requests.append(body)
                    b.in_flight += 1
                    b.max_in_flight = max(b.max_in_flight, b.in_flight)
                try:
                    if b.delay:
                        time.sleep(b.delay)
                    if self.path != "/v1/chat/completions" or b.mode == "not_found":
                        return self._send(404, {"error": "no such route or model"})
                    if not b.healthy:
                        b.refused += 1
                        return self._send(503, {"error": "loading the model"})
                    if b.mode == "fail":
                        return self._send(503, {"error": "overloaded"})
                    if b.mode == "hang":
                        time.sleep(b.hang_seconds)
                    content = "I cannot decide." if b.mode == "garbage" else server.verdict(body)
                    self._send(200, {"choices": [{"message": {"role": "assistant", "content": content}}]})
                finally:
                    with server.lock:
                        b.in_flight -= 1

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its time limit): that is the point of "hang"

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def verdict(self, body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        if "[Standard Answer]:" in prompt:  # DeepEyes' visual judge: one word
            task = prompt.rsplit("Task", 1)[-1]
            truth = re.search(r"\[Standard Answer\]: (.*)", task).group(1).strip().lower()
            given = re.search(r"\[Model's Answer\]: (.*)", task).group(1).strip().lower()
            return "CORRECT" if truth in given else "INCORRECT"
        if "Equivalence Judgement" in prompt:  # DeepEyes' maths fallback
            truth = re.search(r"Reference answer:\n(.*)", prompt).group(1).strip()
            given = re.search(r"Student's final answer:\n(.*)", prompt).group(1).strip()
            return "## Equivalence Judgement\n" + ("TRUE" if given.lower() in truth.lower() else "FALSE")
        if "Correctness" in prompt.rsplit("\n", 1)[-1]:  # the verdict the last line asks for
            truth = _block(prompt, "reference_answer", "Reference answer").lower()
            given = _block(prompt, "given_answer", "Given answer")
            if self.behaviour.mode == "obedient" and "Correctness" in given:
                return given  # an injectable judge: it replies what the graded answer dictates
            given = given.lower()
            return "```json\n" + json.dumps({"Correctness": int(bool(given) and truth in given)}) + "\n```"
        return json.dumps({"Consistency": self.behaviour.consistency})

    @property
    def endpoint(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def reset(self) -> None:
        self.behaviour = JudgeBehaviour()


def _block(prompt: str, tag: str, label: str) -> str:
    """The text of `<tag>...</tag>` in a judge prompt (or of a `Label: ...` line)."""
    tagged = re.search(rf"<{tag}>\n?(.*?)\n?</{tag}>", prompt, re.S)
    return (tagged or re.search(rf"{label}: (.*)", prompt)).group(1).strip()


@pytest.fixture(scope="session")
def judge_server() -> Iterator[JudgeServer]:
    server = JudgeServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def judge(judge_server: JudgeServer) -> Iterator[JudgeServer]:
    judge_server.reset()
    yield judge_server
    judge_server.reset()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from thyme_jobs import tinymodel

    return tinymodel.build(tmp_path_factory.mktemp("tiny-vl") / "model", seed=0)


# Short, to keep the timeout case quick; long enough for a cold PIL import under runsc.
SANDBOX_CALL_TIMEOUT = 4.0


@pytest.fixture(scope="session")
def sandbox_url(runsc) -> Iterator[str]:
    """The real sandbox service (runsc workers) on a loopback port, in this process."""
    from thyme_sandbox.serving import InProcessServer
    from thyme_sandbox.settings import SandboxSettings

    settings = SandboxSettings(runsc=str(runsc), pool_size=2, max_starts=2, call_timeout=SANDBOX_CALL_TIMEOUT,
                               acquire_timeout=60, stdout_limit=4096)
    server = InProcessServer(settings).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def photo() -> bytes:
    from PIL import Image

    image = Image.linear_gradient("L").resize((320, 240)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()
