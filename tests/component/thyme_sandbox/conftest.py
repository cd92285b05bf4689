"""A real sandbox service on a free loopback port, with real runsc workers, per session.

The service runs in this process on its own thread (serving.InProcessServer) so tests
can reach behind the API where they must, e.g. to SIGKILL the worker of a session.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from thyme_sandbox.serving import InProcessServer
from thyme_sandbox.settings import SandboxSettings

# Short enough to keep the timeout cases quick, long enough for a cold numpy call.
CALL_TIMEOUT = 4.0


@pytest.fixture(scope="session")
def sandbox_server(runsc) -> Iterator[InProcessServer]:
    settings = SandboxSettings(runsc=str(runsc), pool_size=4, max_starts=2, call_timeout=CALL_TIMEOUT,
                               acquire_timeout=60, stdout_limit=4096)
    server = InProcessServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def photo() -> bytes:
    """A 2000x1500 JPEG with a gradient, so crops differ by where they were taken."""
    from PIL import Image

    image = Image.linear_gradient("L").resize((2000, 1500)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
