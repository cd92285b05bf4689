"""The async client the RL stage uses to run model code in the sandbox service.

User-code outcomes come back as `RunResult` (status ok/error/timeout/oom/killed); only
service faults raise, each as its own type, so a trainer can retry a full pool and
stop loudly on an outage instead of scoring a trajectory zero because nobody answered.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from thyme_sandbox.protocol import RunResult

__all__ = ["SandboxClient", "SandboxSession", "RunResult", "SandboxClientError", "SessionNotFound",
           "PoolExhausted", "SandboxUnavailable"]


class SandboxClientError(Exception):
    """A service fault seen by the client."""


class SessionNotFound(SandboxClientError):
    """404: the session was closed, expired after its idle timeout, or never existed."""


class PoolExhausted(SandboxClientError):
    """503 from opening a session: every worker is busy. Retry after a pause, or add replicas."""


class SandboxUnavailable(SandboxClientError):
    """The service cannot be reached or failed (connection error, timeout, other 5xx)."""


class SandboxClient:
    """`SandboxClient(base_url, timeout=...)`; use as `async with` or call `aclose()`.

    `timeout` bounds each HTTP request; keep it above the service's per-call wall limit
    (10 s by default) or a slow call looks like an outage.
    """

    def __init__(self, base_url: str, timeout: float = 60.0, max_connections: int = 256) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections))

    async def __aenter__(self) -> SandboxClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def create_session(self, image: bytes | None = None) -> str:
        body = {"image": base64.b64encode(image).decode()} if image is not None else {}
        response = await self._send("POST", "/sessions", json=body)
        return response.json()["session_id"]

    async def run(self, session_id: str, code: str) -> RunResult:
        response = await self._send("POST", f"/sessions/{session_id}/run", json={"code": code})
        return RunResult.model_validate_json(response.content)

    async def close_session(self, session_id: str) -> None:
        await self._send("DELETE", f"/sessions/{session_id}")

    async def ready(self) -> bool:
        try:
            return (await self._http.get("/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    @asynccontextmanager
    async def session(self, image: bytes | None = None) -> AsyncIterator[SandboxSession]:
        """A session closed on exit, even when the block raises."""
        session_id = await self.create_session(image)
        try:
            yield SandboxSession(self, session_id)
        finally:
            try:
                await self.close_session(session_id)
            except SessionNotFound:
                pass  # already reaped: nothing left to close

    async def _send(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise SandboxUnavailable(f"sandbox service at {self._http.base_url} unreachable: "
                                     f"{type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return response
        detail = _detail(response)
        if response.status_code == 404:
            raise SessionNotFound(detail)
        if response.status_code == 503 and '"PoolExhausted"' in response.text:
            raise PoolExhausted(detail)
        if response.status_code >= 500:
            raise SandboxUnavailable(f"sandbox service answered {response.status_code}: {detail}")
        raise SandboxClientError(f"sandbox service refused {method} {path} ({response.status_code}): {detail}")


class SandboxSession:
    """One open session: `await s.run(code)`."""

    def __init__(self, client: SandboxClient, session_id: str) -> None:
        self.client, self.id = client, session_id

    async def run(self, code: str) -> RunResult:
        return await self.client.run(self.id, code)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:500]
