"""Real tool workers (uvicorn on a free loopback port, in this process) for the component tests."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator

import pytest
from PIL import Image

from thyme_tools import worker
from thyme_tools.serving import InProcessServer
from thyme_tools.settings import WorkerSettings
from thyme_tools.tools import Tool


@pytest.fixture
def start_worker() -> Iterator[Callable[..., InProcessServer]]:
    """Start a worker for `settings` (and optionally an injected tool); all are stopped after the test."""
    started: list[InProcessServer] = []

    def start(settings: WorkerSettings, tool: Tool | None = None, ready: bool = True) -> InProcessServer:
        server = InProcessServer(worker.create_app(settings, tool)).start()
        started.append(server)
        return server.wait_ready() if ready else server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def photo_b64() -> str:
    """A 320x240 JPEG gradient, base64: crops differ by where they were taken."""
    image = Image.linear_gradient("L").resize((320, 240)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return base64.b64encode(buffer.getvalue()).decode()


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))
