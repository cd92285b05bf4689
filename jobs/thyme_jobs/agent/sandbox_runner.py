"""The Thyme protocol's `CodeRunner` over the sandbox service's async client.

One sandbox session per trajectory, created on its first code block with the
trajectory's input image, so variables and the image persist across its rounds (Thyme
keeps the execution context between calls) and never leak between trajectories.

The client's typed service faults (unknown session, pool exhausted, service down)
become `thyme_code.SandboxFault`, which marks the one trajectory; user-code failures stay
results. A pool that is momentarily exhausted is retried a few times with backoff
before it counts as a fault.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from thyme_jobs.agent.thyme_code import CodeResult, SandboxFault

log = logging.getLogger(__name__)


def _service_faults() -> tuple[type[BaseException], ...]:
    """The client's exception types, plus transport errors it might let through."""
    import aiohttp

    found: list[type[BaseException]] = [aiohttp.ClientError]
    for module in ("thyme_sandbox.client", "thyme_sandbox.errors"):
        try:
            mod = __import__(module, fromlist=["_"])
        except ImportError:
            continue
        for name in ("SandboxError", "SandboxClientError", "SessionNotFound", "PoolExhausted", "SandboxUnavailable"):
            cls = getattr(mod, name, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                found.append(cls)
    return tuple(found)


def to_code_result(result: Any) -> CodeResult:
    """The client's RunResult (pydantic model or dict, images base64 or bytes) as a CodeResult."""
    data = result.model_dump() if hasattr(result, "model_dump") else dict(result)
    error = data.get("error")
    message = None
    if error:
        message = f"{error.get('type', 'Error')}: {error.get('message', '')}".rstrip(": ")
        if error.get("line") is not None:
            message += f" (line {error['line']})"
    images = [img if isinstance(img, bytes) else base64.b64decode(img) for img in data.get("images") or []]
    return CodeResult(
        status=data["status"],
        stdout=data.get("stdout") or "",
        error=message,
        images=images,
        wall_seconds=float(data.get("wall_seconds") or 0.0),
    )


class SandboxRunner:
    """Sessions keyed by trajectory id over a `SandboxClient`-like object."""

    def __init__(self, client: Any, *, pool_retries: int = 3, backoff_seconds: float = 0.5) -> None:
        self.client = client
        self.pool_retries = pool_retries
        self.backoff_seconds = backoff_seconds
        self._sessions: dict[str, str] = {}
        self._faults = _service_faults()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "SandboxRunner":
        from thyme_sandbox.client import SandboxClient

        return cls(SandboxClient(url), **kwargs)

    async def run(self, trajectory_id: str, code: str, image: bytes | None) -> CodeResult:
        try:
            session = self._sessions.get(trajectory_id)
            if session is None:
                session = await self._create(image)
                self._sessions[trajectory_id] = session
            return to_code_result(await self.client.run(session, code))
        except self._faults as exc:
            raise SandboxFault(f"trajectory {trajectory_id}: sandbox service fault {type(exc).__name__}: {exc}") from exc

    async def _create(self, image: bytes | None) -> str:
        for attempt in range(self.pool_retries + 1):
            try:
                return await self.client.create_session(image)
            except self._faults as exc:
                if type(exc).__name__ != "PoolExhausted" or attempt == self.pool_retries:
                    raise
                await asyncio.sleep(self.backoff_seconds * 2**attempt)
        raise AssertionError("unreachable")

    async def close(self, trajectory_id: str) -> None:
        session = self._sessions.pop(trajectory_id, None)
        if session is not None:
            await self.client.close_session(session)

    async def aclose(self) -> None:
        """Close the client (and any sessions a cancelled rollout left open)."""
        for tid in list(self._sessions):
            try:
                await self.close(tid)
            except self._faults as exc:
                log.warning("closing the sandbox session of %s failed: %s", tid, exc)
        closer = getattr(self.client, "aclose", None) or getattr(self.client, "close", None)
        if closer is not None:
            await closer()
