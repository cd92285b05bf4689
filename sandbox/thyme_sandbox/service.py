"""The running service: launcher, pool and sessions put together, with a lifecycle.

Kept apart from the routes (server.py) as uvicorn keeps `Server` apart from its
protocols: `start` warms the pool and starts the idle reaper, `stop` closes sessions,
cancels worker starts and kills idle workers within a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from pathlib import Path

from thyme_sandbox.launching import Limits, launcher_for
from thyme_sandbox.metrics import SandboxMetrics
from thyme_sandbox.pool import PoolSettings, WorkerPool
from thyme_sandbox.sessions import CallSettings, ImageSink, SessionManager
from thyme_sandbox.settings import SandboxSettings

log = logging.getLogger(__name__)


def store_sink(store_uri: str) -> ImageSink:
    """Write result images to the artifact store; the result then carries their keys."""
    from thyme_jobs.store import join, open_store

    store = open_store(store_uri)

    def put(session_id: str, call: int, blobs: list[bytes]) -> list[str]:
        keys = [join("sandbox", session_id, f"call-{call:04d}", f"image-{i}") for i in range(len(blobs))]
        for key, blob in zip(keys, blobs):
            store.put_bytes(key, blob)
        return keys

    return put


class SandboxService:
    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.metrics = SandboxMetrics()
        self._own_state = settings.state_dir is None
        self.state_dir = Path(settings.state_dir or tempfile.mkdtemp(prefix="thyme-sandbox-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        limits = Limits(memory_bytes=settings.memory_bytes, cpu_seconds=settings.cpu_seconds,
                        processes=settings.processes, file_bytes=settings.file_bytes)
        self.launcher = launcher_for(settings.launcher, self.state_dir, limits, settings.stdout_limit,
                                     settings.runsc, settings.max_workers)
        self.pool = WorkerPool(self.launcher, PoolSettings(
            size=settings.pool_size, max_workers=settings.max_workers, max_starts=settings.max_starts,
            acquire_timeout=settings.acquire_timeout), self.metrics)
        if settings.images_to == "store" and not settings.store_uri:
            raise ValueError("images_to='store' needs store_uri (e.g. s3://bucket/prefix)")
        sink = store_sink(settings.store_uri) if settings.images_to == "store" and settings.store_uri else None
        self.sessions = SessionManager(self.pool, CallSettings(
            call_timeout=settings.call_timeout, idle_timeout=settings.idle_timeout,
            scratch_bytes=settings.scratch_bytes), self.metrics, sink)
        self._reaper: asyncio.Task | None = None

    async def start(self) -> None:
        await self.pool.start()
        self._reaper = asyncio.create_task(self._reap_forever(), name="sandbox-session-reaper")

    async def stop(self, grace: float = 10.0) -> None:
        if self._reaper:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        open_sessions = len(self.sessions.sessions)
        if open_sessions:
            log.info("sandbox: closing %d open session(s) at shutdown", open_sessions)
        await self.sessions.close_all()
        await self.pool.close(grace)
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(min(30.0, self.settings.idle_timeout / 4))
            await self.sessions.reap_idle()
