"""HTTP routes of one tool worker: OpenThinkIMG's `/worker_generate` and `/worker_get_status`,
plus the probes a Deployment needs. Routes and the call gate only; the tool does the work.

What differs from OpenThinkIMG's `BaseToolWorker`, on purpose:
- The model loads on a thread after the server is up; `/readyz` answers 503 until it
  has loaded, so a Service never routes to a worker that cannot serve (OpenThinkIMG
  registers with its controller before loading). A failed load turns `/healthz` to 500,
  so the kubelet restarts the container and its events say why.
- A worker serves `max_concurrency` calls at once and answers the next one at once
  with HTTP 503 and `ENGINE_OVERLOADED` (OpenThinkIMG queues it for up to 120 s), so a
  client can retry elsewhere, and `queue_length` reports the calls in flight (always 0
  in OpenThinkIMG).
- Each call has a timeout (`TIMEOUT_ERROR` after `call_timeout`). A timed-out call's
  thread cannot be killed; its slot stays taken until it ends, so the limit holds.
- Every failure is an answer `{"text": <what went wrong>, "error_code": <code>}`:
  bad input with OpenThinkIMG's 4xxxx codes and HTTP 200 as OpenThinkIMG answers it,
  a tool crash with 50001 and the exception's type and message. Never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from thyme_tools import registry
from thyme_tools.codes import ErrorCode, ToolInputError
from thyme_tools.protocol import GenerateRequest, GenerateResponse, WorkerStatus
from thyme_tools.settings import WorkerSettings
from thyme_tools.tools import Tool

log = logging.getLogger("thyme_tools.worker")


class CallGate:
    """At most `limit` calls in flight; `try_enter` never waits (a full worker says so)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._lock = threading.Lock()  # released from executor callbacks, entered from the loop

    def try_enter(self) -> bool:
        with self._lock:
            if self.in_flight >= self.limit:
                return False
            self.in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class WorkerState:
    def __init__(self) -> None:
        self.phase = "loading"  # -> "ready" | "failed"
        self.error: str | None = None


def answer(text: str, code: ErrorCode, http_status: int = 200) -> JSONResponse:
    return JSONResponse(GenerateResponse(text=text, error_code=int(code)).body(), status_code=http_status)


def run_call(tool: Tool, request: GenerateRequest) -> GenerateResponse:
    """The tool's call with every failure turned into an answer (runs on an executor thread)."""
    try:
        return tool.call(request)
    except ToolInputError as exc:
        return GenerateResponse(text=f"{tool.name}: {exc}", error_code=int(exc.code))
    except Exception as exc:  # noqa: BLE001 - a tool crash is an answer, not a 500
        log.exception("%s failed on a call", tool.name)
        code = ErrorCode.CUDA_OUT_OF_MEMORY if type(exc).__name__ == "OutOfMemoryError" else ErrorCode.INTERNAL_ERROR
        return GenerateResponse(text=f"{tool.name} failed: {type(exc).__name__}: {exc}", error_code=int(code))


def create_app(settings: WorkerSettings, tool: Tool | None = None) -> FastAPI:
    """The worker's app. `tool` replaces the registry's (tests inject slow or failing tools)."""
    tool = tool or registry.build(settings)
    name = tool.name or settings.tool
    gate = CallGate(settings.max_concurrency)
    state = WorkerState()
    executor = ThreadPoolExecutor(max_workers=settings.max_concurrency, thread_name_prefix=f"tool-{name}")

    async def load() -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, tool.load)
        except Exception as exc:  # noqa: BLE001 - reported through /readyz and /healthz
            log.exception("%s: loading failed", name)
            state.phase, state.error = "failed", f"{type(exc).__name__}: {exc}"
        else:
            state.phase = "ready"
            log.info("%s: ready", name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(load())
        app.state.loading = loading
        try:
            yield
        finally:
            loading.cancel()
            executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title=f"thyme tool worker: {name}", lifespan=lifespan)
    app.state.tool, app.state.gate, app.state.worker_state = tool, gate, state

    @app.post("/worker_generate")
    async def worker_generate(request: Request) -> JSONResponse:
        if state.phase != "ready":
            why = f"its model failed to load ({state.error})" if state.phase == "failed" else "its model is still loading"
            return answer(f"{name} is not ready: {why}", ErrorCode.CONTROLLER_NO_WORKER, 503)
        try:
            call = GenerateRequest.model_validate(await request.json())
        except ValidationError as exc:
            return answer(f"{name}: bad request body: {_first_error(exc)}", ErrorCode.VALIDATION_TYPE_ERROR)
        except ValueError:
            return answer(f"{name}: the request body is not JSON; send {{\"param\": ..., \"image\": <base64>}}",
                          ErrorCode.VALIDATION_TYPE_ERROR)
        if not gate.try_enter():
            return answer(f"{name} is busy: {gate.limit} calls in flight, its limit (max_concurrency); "
                          "retry shortly or add replicas", ErrorCode.ENGINE_OVERLOADED, 503)
        future = asyncio.get_running_loop().run_in_executor(executor, run_call, tool, call)
        future.add_done_callback(lambda _: gate.leave())
        try:
            result = await asyncio.wait_for(asyncio.shield(future), settings.call_timeout)
        except TimeoutError:
            return answer(f"{name}: the call ran past its {settings.call_timeout:g} s timeout (call_timeout)",
                          ErrorCode.TIMEOUT_ERROR)
        return JSONResponse(result.body())

    @app.api_route("/worker_get_status", methods=["GET", "POST"])
    async def worker_get_status() -> dict[str, Any]:
        return WorkerStatus(model_names=[name], queue_length=gate.in_flight, ready=state.phase == "ready").model_dump()

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        ok = state.phase != "failed"
        return JSONResponse({"ok": ok, "error": state.error}, status_code=200 if ok else 500)

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ready = state.phase == "ready"
        return JSONResponse({"ready": ready, "phase": state.phase, "error": state.error, "tool": name},
                            status_code=200 if ready else 503)

    return app


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return f"`{where}`: {err.get('msg', 'invalid')}"
