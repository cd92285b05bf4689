"""Ways to launch a worker or the front: in this process (on a thread) or as a `thyme` subprocess.

Tests, the benchmark and the local executor need real servers on real ports without
repeating uvicorn boilerplate; the in-process form also exposes the app's state so a
test can look behind the API (the call gate, the load phase).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI


class InProcessServer:
    """uvicorn on its own thread; `start()` returns once it listens (not once the tool is ready)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="tool-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self, timeout: float = 60.0) -> InProcessServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("tool server did not start")
            time.sleep(0.02)
        return self

    def wait_ready(self, timeout: float = 120.0) -> InProcessServer:
        wait_ready(self.url, timeout)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def wait_ready(url: str, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    """Poll `/readyz` until 200; fail naming the phase and error the worker reports."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"tool server at {url} exited with {proc.returncode}")
        try:
            reply = httpx.get(url + "/readyz", timeout=2)
            if reply.status_code == 200:
                return
            last = reply.text[:300]
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    raise TimeoutError(f"tool server at {url} not ready after {timeout:.0f}s: {last}")


def spawn(action: str, args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`thyme tools ACTION ARGS` as a subprocess in its own session, output appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "thyme_cli.main", "tools", action, *args], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, **(env or {})})
