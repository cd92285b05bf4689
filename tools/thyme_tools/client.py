"""The async client loops and benchmarks use to call tool workers.

Tool answers with an `error_code` (bad box, undecodable image, timeout) are results:
the caller shows them to the model as OpenThinkIMG does. A worker that is full (503),
not ready, or unreachable raises `ToolUnavailable`, so an outage is loud in the trainer
instead of becoming an observation.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from thyme_tools.protocol import GenerateResponse


class ToolUnavailable(Exception):
    """The worker could not take the call: busy (503), not ready, or unreachable."""

    def __init__(self, tool: str, detail: str, status: int | None = None) -> None:
        super().__init__(f"tool {tool!r} unavailable: {detail}")
        self.tool, self.status = tool, status


class ToolClient:
    def __init__(self, addresses: dict[str, str], timeout: float = 60.0, max_connections: int = 64) -> None:
        self.addresses = {name: url.rstrip("/") for name, url in addresses.items()}
        self.http = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=max_connections,
                                                                           max_keepalive_connections=max_connections))

    @classmethod
    async def from_front(cls, front_url: str, **kwargs: Any) -> ToolClient:
        """Resolve every listed tool's address through a controller-compatible front, once."""
        front = front_url.rstrip("/")
        async with httpx.AsyncClient(timeout=10) as http:
            await http.post(front + "/refresh_all_workers")
            models = (await http.post(front + "/list_models")).json()["models"]
            addresses = {}
            for name in models:
                address = (await http.post(front + "/get_worker_address", json={"model": name})).json()["address"]
                if address:
                    addresses[name] = address
        return cls(addresses, **kwargs)

    async def call(self, tool: str, param: str | None = None, image: bytes | str | None = None,
                   **extra: Any) -> GenerateResponse:
        if tool not in self.addresses:
            raise ToolUnavailable(tool, f"no address known (have {sorted(self.addresses)})")
        body: dict[str, Any] = {"param": param, **extra}
        if image is not None:
            body["image"] = base64.b64encode(image).decode("ascii") if isinstance(image, bytes) else image
        try:
            reply = await self.http.post(self.addresses[tool] + "/worker_generate", json=body)
        except httpx.HTTPError as exc:
            raise ToolUnavailable(tool, f"{type(exc).__name__}: {exc}") from None
        if reply.status_code == 503:
            raise ToolUnavailable(tool, _text(reply), 503)
        reply.raise_for_status()
        return GenerateResponse.model_validate(reply.json())

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> ToolClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


def _text(reply: httpx.Response) -> str:
    try:
        return str(reply.json().get("text"))
    except ValueError:
        return reply.text[:200]
