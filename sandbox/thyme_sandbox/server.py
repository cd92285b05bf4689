"""HTTP routes of the sandbox service (docs/contracts.md, "Sandbox service"). Routes only.

User-code outcomes are 200 results; the service's own faults are `SandboxError`
subclasses, answered with their `http_status` and a `Problem` body naming the fault.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from thyme_sandbox.errors import BadImage, SandboxError
from thyme_sandbox.protocol import CreateSession, Problem, RunRequest, RunResult, SessionCreated
from thyme_sandbox.service import SandboxService
from thyme_sandbox.settings import SandboxSettings


def create_app(settings: SandboxSettings) -> FastAPI:
    service = SandboxService(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.loop = asyncio.get_running_loop()  # for in-process launchers that call into it
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="thyme sandbox", lifespan=lifespan)
    app.state.service = service

    @app.exception_handler(SandboxError)
    async def service_fault(_: Request, exc: SandboxError) -> JSONResponse:
        body = Problem(type=type(exc).__name__, detail=str(exc))
        return JSONResponse(body.model_dump(), status_code=exc.http_status)

    @app.post("/sessions")
    async def create_session(body: CreateSession | None = None) -> SessionCreated:
        image = None
        if body is not None and body.image is not None:
            try:
                image = base64.b64decode(body.image, validate=True)
            except (binascii.Error, ValueError):
                raise BadImage("the session image is not valid base64") from None
        return SessionCreated(session_id=await service.sessions.create(image), url=settings.replica_url)

    @app.post("/sessions/{session_id}/run")
    async def run(session_id: str, body: RunRequest) -> RunResult:
        return await service.sessions.run(session_id, body.code)

    @app.delete("/sessions/{session_id}", status_code=204)
    async def close_session(session_id: str) -> Response:
        await service.sessions.close(session_id)
        return Response(status_code=204)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"ok": True}

    @app.get("/readyz")
    async def readyz() -> Response:
        ready = service.pool.ready
        return JSONResponse({"ready": ready, "idle_workers": len(service.pool.idle)},
                            status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
