"""A worker process that dies is an outage the client reports (ToolUnavailable), and once a new
worker answers at the same address (a Service URL whose pod the Deployment replaced), the same
client's calls resume: no dead connection is reused, no address is cached elsewhere."""

import base64
import io
import signal

import pytest
from PIL import Image

from testenv.processes import free_port, stop
from thyme_tools import serving
from thyme_tools.client import ToolClient, ToolUnavailable


def _start(port: int, log):
    proc = serving.spawn("serve", ["--tool", "Crop", "--port", str(port)], log)
    serving.wait_ready(f"http://127.0.0.1:{port}", timeout=120, proc=proc)
    return proc


async def test_calls_resume_after_the_worker_is_replaced(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), "white").save(buffer, "JPEG")
    image = base64.b64encode(buffer.getvalue()).decode()
    port = free_port()
    first = _start(port, tmp_path / "first.log")
    second = None
    try:
        async with ToolClient({"Crop": f"http://127.0.0.1:{port}"}, timeout=10) as client:
            assert (await client.call("Crop", "[0, 0, 40, 30]", image)).error_code == 0
            first.send_signal(signal.SIGKILL)
            first.wait(30)
            with pytest.raises(ToolUnavailable, match="Crop"):
                await client.call("Crop", "[0, 0, 40, 30]", image)
            second = _start(port, tmp_path / "second.log")
            answer = await client.call("Crop", "[0, 0, 40, 30]", image)
            assert answer.error_code == 0 and answer.edited_image
    finally:
        stop(first)
        if second is not None:
            stop(second)
