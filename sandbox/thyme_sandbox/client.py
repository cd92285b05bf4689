"""The async client the RL stage uses to run model code in the sandbox service.

User-code outcomes come back as `RunResult` (status ok/error/timeout/oom/killed); only
service faults raise, each as its own type, so a trainer can retry a full pool and
stop loudly on an outage instead of scoring a trajectory zero because nobody answered.

Built on aiohttp rather than httpx: measured here against the same FastAPI route, a
small POST round trip took 0.33 ms with aiohttp and 1.19 ms with httpx, and the
trivial sandbox call has a 2 ms budget in all.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from thyme_sandbox.protocol import RunResult

__all__ = ["SandboxClient", "SandboxSession", "RunResult", "SandboxClientError", "SessionNotFound",
           "WrongReplica", "PoolExhausted", "SandboxUnavailable", "call_timeout"]


class SandboxClientError(Exception):
    """A service fault seen by the client."""


class SessionNotFound(SandboxClientError):
    """404: the session was closed, expired after its idle timeout, or never existed."""


class WrongReplica(SessionNotFound):
    """421: the call reached a replica that does not hold the session (a routing fault)."""


class PoolExhausted(SandboxClientError):
    """503 from opening a session: every worker is busy. Retry after a pause, or add replicas."""


class SandboxUnavailable(SandboxClientError):
    """The service cannot be reached or failed (connection error, timeout, other 5xx)."""


# What one request may take beyond the service's own limits: preprocessing, moving
# images, a loaded event loop. Past it the service is treated as unavailable.
REQUEST_SLACK_SECONDS = 30.0


def call_timeout(sandbox_timeout: float, acquire_timeout: float = 30.0) -> float:
    """The HTTP time limit that fits a service whose calls may run `sandbox_timeout` seconds.

    Opening a session may wait `acquire_timeout` for a worker, a call may run for the
    wall limit; a fixed limit below either turns a slow but healthy call into an outage.
    """
    return max(sandbox_timeout, acquire_timeout) + REQUEST_SLACK_SECONDS


class SandboxClient:
    """`SandboxClient(base_url, timeout=...)`; use as `async with` or call `aclose()`.

    `timeout` bounds each HTTP request; keep it above the service's per-call wall limit
    (`call_timeout(...)` computes one) or a slow call looks like an outage.

    Sessions live in one replica's memory. `base_url` may be a Service balancing across
    replicas: each session is opened through it on a fresh connection (so the balancer
    spreads sessions, as kube-proxy does per connection) and every later call of the
    session goes to the replica URL the service answered with.
    """

    def __init__(self, base_url: str, timeout: float = 60.0, max_connections: int = 256) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_connections = max_connections
        self._http: aiohttp.ClientSession | None = None  # made on first use, inside the caller's loop
        self._routes: dict[str, str] = {}  # session id -> base URL of the replica holding it

    async def __aenter__(self) -> SandboxClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(limit=self._max_connections))
        return self._http

    async def create_session(self, image: bytes | None = None) -> str:
        body = {"image": base64.b64encode(image).decode()} if image is not None else {}
        _, content = await self._send("POST", "/sessions", json=body, headers={"Connection": "close"})
        created = json.loads(content)
        self._routes[created["session_id"]] = (created.get("url") or self.base_url).rstrip("/")
        return created["session_id"]

    async def run(self, session_id: str, code: str) -> RunResult:
        _, content = await self._send("POST", f"/sessions/{session_id}/run", json={"code": code},
                                      base=self._routes.get(session_id))
        return RunResult.model_validate_json(content)

    async def close_session(self, session_id: str) -> None:
        try:
            await self._send("DELETE", f"/sessions/{session_id}", base=self._routes.get(session_id))
        finally:
            self._routes.pop(session_id, None)

    async def ready(self) -> bool:
        try:
            async with self._session().get(self.base_url + "/readyz") as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
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

    async def _send(self, method: str, path: str, base: str | None = None, **kwargs: object) -> tuple[int, bytes]:
        base = base or self.base_url
        try:
            async with self._session().request(method, base + path, **kwargs) as response:  # type: ignore[arg-type]
                status, content = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SandboxUnavailable(f"sandbox service at {base} unreachable: "
                                     f"{type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return status, content
        detail = _detail(content)
        if status == 421:
            raise WrongReplica(detail)
        if status == 404:
            raise SessionNotFound(detail)
        if status == 503 and b'"PoolExhausted"' in content:
            raise PoolExhausted(detail)
        if status >= 500:
            raise SandboxUnavailable(f"sandbox service answered {status}: {detail}")
        raise SandboxClientError(f"sandbox service refused {method} {path} ({status}): {detail}")


class SandboxSession:
    """One open session: `await s.run(code)`."""

    def __init__(self, client: SandboxClient, session_id: str) -> None:
        self.client, self.id = client, session_id

    async def run(self, code: str) -> RunResult:
        return await self.client.run(self.id, code)


def _detail(content: bytes) -> str:
    try:
        return str(json.loads(content).get("detail", content.decode(errors="replace")))
    except (ValueError, AttributeError):
        return content[:500].decode(errors="replace")
