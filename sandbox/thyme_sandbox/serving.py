"""Ways to launch the service: in this process (on a thread) or as a `thyme` subprocess.

Tests and the local runner need a real server on a real port without writing uvicorn
boilerplate each time; the in-process form also exposes the service object so a test
can, say, SIGKILL the worker behind a session.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from thyme_sandbox.server import create_app
from thyme_sandbox.service import SandboxService
from thyme_sandbox.settings import SandboxSettings


class InProcessServer:
    """uvicorn on its own thread and event loop; `start()` returns once the pool is full."""

    def __init__(self, settings: SandboxSettings, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = create_app(settings)
        self.config = uvicorn.Config(self.app, host=host, port=port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, name="sandbox-server", daemon=True)

    @property
    def service(self) -> SandboxService:
        return self.app.state.service

    @property
    def url(self) -> str:
        sock = self.server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self, warm_timeout: float = 180.0) -> InProcessServer:
        self.thread.start()
        deadline = time.monotonic() + warm_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("sandbox server did not start")
            time.sleep(0.02)
        self.call(self.service.pool.wait_full(max(1.0, deadline - time.monotonic())))
        return self

    def call(self, coro, timeout: float | None = None):  # noqa: ANN001 - any coroutine
        """Run a coroutine on the server's loop (the service's objects live there)."""
        return asyncio.run_coroutine_threadsafe(coro, self.app.state.loop).result(timeout)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)


def spawn(args: list[str], log: Path, ready_timeout: float = 180.0) -> tuple[subprocess.Popen, str]:
    """`thyme sandbox serve ARGS` as a subprocess; returns it and its URL once ready."""
    port = _arg(args, "--port")
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "thyme_cli.main", "sandbox", "serve", *args],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ})
    url = f"http://{_arg(args, '--host') or '127.0.0.1'}:{port}"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"thyme sandbox serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise TimeoutError(f"thyme sandbox serve not ready after {ready_timeout:.0f}s: {log.read_text()[-2000:]}")


def _arg(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None
