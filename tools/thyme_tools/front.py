"""A controller-compatible front over the tool workers, so OpenThinkIMG's clients work unchanged.

OpenThinkIMG's `ToolManager` and `tf_eval` ask a controller for `/list_models` and
`/get_worker_address` (after `/refresh_all_workers`), then call each worker directly.
Its controller learns workers from registrations and heartbeats; this front is given
them instead (in a cluster, each tool's Service URL, which the Service balances over
the ready pods) and asks each worker's `/worker_get_status` whether it is ready, so an
address is handed out only for a worker that can serve. No heartbeats, no address file:
point `ToolManager` at this front's URL.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI, Request

from thyme_tools.protocol import WorkerStatus
from thyme_tools.settings import FrontSettings


def create_app(settings: FrontSettings) -> FastAPI:
    app = FastAPI(title="thyme tools front (OpenThinkIMG controller API)")
    workers = {name: url.rstrip("/") for name, url in settings.workers.items()}

    async def status(client: httpx.AsyncClient, name: str) -> WorkerStatus | None:
        try:
            reply = await client.post(workers[name] + "/worker_get_status", timeout=settings.probe_timeout)
            reply.raise_for_status()
            return WorkerStatus.model_validate(reply.json())
        except (httpx.HTTPError, ValueError):
            return None

    async def statuses() -> dict[str, WorkerStatus | None]:
        async with httpx.AsyncClient() as client:
            found = await asyncio.gather(*(status(client, name) for name in workers))
        return dict(zip(workers, found))

    def serving(name: str, found: WorkerStatus | None) -> bool:
        return settings.workers_mode == "all" or (found is not None and found.ready)

    @app.post("/refresh_all_workers")
    async def refresh_all_workers() -> dict[str, Any]:
        found = await statuses()
        return {"workers": {name: serving(name, s) for name, s in found.items()}}

    @app.api_route("/list_models", methods=["GET", "POST"])
    async def list_models() -> dict[str, list[str]]:
        found = await statuses()
        return {"models": sorted(name for name, s in found.items() if serving(name, s))}

    @app.post("/get_worker_address")
    async def get_worker_address(request: Request) -> dict[str, str]:
        """`{"model": name}` -> `{"address": url}`; `""` when no ready worker serves it, as OpenThinkIMG answers."""
        try:
            body = await request.json()
            name = body["model"]
        except (ValueError, KeyError, TypeError):
            return {"address": ""}
        if name not in workers:
            return {"address": ""}
        async with httpx.AsyncClient() as client:
            found = await status(client, name)
        return {"address": workers[name] if serving(name, found) else ""}

    @app.api_route("/worker_get_status", methods=["GET", "POST"])
    async def worker_get_status() -> dict[str, Any]:
        """The front as one worker of all tools (OpenThinkIMG's controller offers the same)."""
        found = await statuses()
        ready = [s for s in found.values() if s is not None and s.ready]
        return {"model_names": sorted(n for s in ready for n in s.model_names), "speed": len(ready),
                "queue_length": sum(s.queue_length for s in ready)}

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/readyz")
    async def readyz() -> dict[str, Any]:
        return {"ready": True, "workers": sorted(workers)}

    return app
