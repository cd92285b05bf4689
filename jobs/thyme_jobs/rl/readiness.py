"""Waiting for the servers a run created (sandbox, judge) before the first step.

The operator creates the sandbox Deployment and the judge server together with the
trainer Job; the trainer is usually up first (a judge loading 72B weights takes
minutes). Without a wait, the first steps spend their retries and their trajectories
on servers that are still starting: sandbox faults, judge outages, a stage failed for
nothing. So the trainer polls each server's readiness route, with a bound: a server
that never comes up fails the stage with its name and its last answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

log = logging.getLogger(__name__)


class ServerNotReady(RuntimeError):
    """A server the stage needs did not become ready within the wait."""


@dataclass(frozen=True)
class Probe:
    """One server to wait for: `what` names it in logs and errors."""

    what: str
    url: str
    # Statuses that mean "up": the sandbox's /readyz says 200 when it can serve; an
    # OpenAI-compatible endpoint without a /health route (a hosted API) answers 404.
    ready_statuses: frozenset[int] = frozenset({200})


def sandbox_probe(sandbox_url: str) -> Probe:
    return Probe("sandbox", sandbox_url.rstrip("/") + "/readyz")


def judge_probe(endpoint: str) -> Probe:
    """vLLM serves /health at its root, beside the /v1 API the judge endpoint names."""
    parts = urlsplit(endpoint.rstrip("/"))
    path = parts.path
    for suffix in ("/chat/completions", "/v1"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return Probe("judge", urlunsplit((parts.scheme, parts.netloc, path + "/health", "", "")),
                 frozenset({200, 404, 405}))


async def wait_ready(probes: list[Probe], timeout: float, poll: float = 1.0) -> None:
    """Return once every probe answers a ready status; ServerNotReady after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=httpx.Timeout(min(10.0, max(timeout, 0.1)))) as http:
        await asyncio.gather(*(_wait_one(http, p, deadline, poll) for p in probes))


async def _wait_one(http: httpx.AsyncClient, probe: Probe, deadline: float, poll: float) -> None:
    started, last = time.monotonic(), "no answer yet"
    while True:
        try:
            reply = await http.get(probe.url)
            if reply.status_code in probe.ready_statuses:
                waited = time.monotonic() - started
                if waited > poll:
                    log.info("rl: %s at %s ready after %.0fs", probe.what, probe.url, waited)
                return
            last = f"HTTP {reply.status_code}: {reply.text[:200]!r}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if time.monotonic() + poll > deadline:
            raise ServerNotReady(f"the {probe.what} at {probe.url} was not ready within "
                                 f"{deadline - started:.0f}s (last: {last}); check its pods and logs")
        await asyncio.sleep(poll)
