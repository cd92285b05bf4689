"""A worker is ready only after its model loads, serves at most `max_concurrency` calls (503 past
that, with a body that says why), answers a call that runs too long with TIMEOUT_ERROR, and
reports a crash or a failed load as an answer, never a traceback.

The tools here are injected test doubles that block on events: the fault (a slow model,
a load that fails) is what they inject; the worker, its HTTP server and its client are real.
"""

import asyncio
import functools
import threading
import time

import httpx
import pytest

from thyme_tools.codes import ErrorCode
from thyme_tools.protocol import GenerateRequest, GenerateResponse
from thyme_tools.settings import WorkerSettings
from thyme_tools.tools import Tool

# generous timeouts: the test machine may be loaded far past its cores
post = functools.partial(httpx.post, timeout=60)
get = functools.partial(httpx.get, timeout=60)


class Gated(Tool):
    """Loads when `loaded` is set; each call waits for `release` (or `hold` seconds) and counts itself."""

    name = "Crop"

    def __init__(self, load_error: str | None = None, hold: float = 30.0) -> None:
        self.loaded, self.release, self.entered = threading.Event(), threading.Event(), threading.Semaphore(0)
        self.load_error, self.hold = load_error, hold

    def load(self) -> None:
        assert self.loaded.wait(30)
        if self.load_error:
            raise RuntimeError(self.load_error)

    def call(self, request: GenerateRequest) -> GenerateResponse:
        self.entered.release()
        if request.param == "crash":
            raise KeyError("weights.layer3")
        self.release.wait(self.hold)
        return GenerateResponse(text="done")


def test_the_worker_is_ready_only_after_its_model_loaded(start_worker):
    tool = Gated()
    server = start_worker(WorkerSettings(tool="Crop"), tool, ready=False)
    assert get(server.url + "/readyz").status_code == 503
    assert get(server.url + "/healthz").status_code == 200  # alive while loading: no restart
    early = post(server.url + "/worker_generate", json={"param": "x", "image": "y"})
    assert early.status_code == 503 and "still loading" in early.json()["text"]
    assert post(server.url + "/worker_get_status").json()["ready"] is False
    tool.loaded.set()
    tool.release.set()
    server.wait_ready(30)
    assert post(server.url + "/worker_generate", json={"param": "x"}).json() == {"text": "done", "error_code": 0}


def test_a_failed_load_is_unready_and_unhealthy_with_the_reason(start_worker):
    tool = Gated(load_error="no config.json in s3://models/sam")
    server = start_worker(WorkerSettings(tool="Crop"), tool, ready=False)
    tool.loaded.set()
    for _ in range(200):
        health = get(server.url + "/healthz")
        if health.status_code == 500:
            break
        time.sleep(0.05)
    assert health.status_code == 500 and "no config.json" in health.json()["error"]
    ready = get(server.url + "/readyz")
    assert ready.status_code == 503 and ready.json()["phase"] == "failed"


async def test_a_full_worker_answers_503_with_a_clear_body_and_recovers(start_worker):
    tool = Gated()
    tool.loaded.set()
    server = start_worker(WorkerSettings(tool="Crop", max_concurrency=2), tool)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        running = [asyncio.create_task(client.post("/worker_generate", json={"param": str(i)})) for i in range(2)]
        for _ in range(2):
            assert await asyncio.to_thread(tool.entered.acquire, True, 10)
        status = (await client.post("/worker_get_status")).json()
        assert status["queue_length"] == 2
        extra = await client.post("/worker_generate", json={"param": "3"})
        assert extra.status_code == 503
        assert extra.json()["error_code"] == ErrorCode.ENGINE_OVERLOADED
        assert "2 calls in flight" in extra.json()["text"] and "max_concurrency" in extra.json()["text"]
        tool.release.set()
        assert [r.json()["text"] for r in await asyncio.gather(*running)] == ["done", "done"]
        again = await client.post("/worker_generate", json={"param": "4"})
        assert again.status_code == 200 and again.json()["text"] == "done"


async def test_a_call_past_its_timeout_is_answered_and_keeps_its_slot_until_it_ends(start_worker):
    tool = Gated()
    tool.loaded.set()
    server = start_worker(WorkerSettings(tool="Crop", max_concurrency=1, call_timeout=0.5), tool)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        slow = await client.post("/worker_generate", json={"param": "slow"})
        assert slow.status_code == 200 and slow.json()["error_code"] == ErrorCode.TIMEOUT_ERROR
        assert "0.5 s timeout" in slow.json()["text"]
        # the timed-out call still runs on its thread: the one slot is still taken
        assert (await client.post("/worker_generate", json={"param": "next"})).status_code == 503
        tool.release.set()
        for _ in range(100):
            if (await client.post("/worker_get_status")).json()["queue_length"] == 0:
                break
            await asyncio.sleep(0.05)
        assert (await client.post("/worker_generate", json={"param": "next"})).json()["text"] == "done"


def test_a_tool_crash_is_an_internal_error_answer_naming_the_exception(start_worker):
    tool = Gated()
    tool.loaded.set()
    server = start_worker(WorkerSettings(tool="Crop"), tool)
    reply = post(server.url + "/worker_generate", json={"param": "crash"})
    assert reply.status_code == 200 and reply.json()["error_code"] == ErrorCode.INTERNAL_ERROR
    assert "KeyError" in reply.json()["text"] and "weights.layer3" in reply.json()["text"]
    assert "Traceback" not in reply.text


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_json(start_worker, path):
    server = start_worker(WorkerSettings(tool="DrawVerticalLineByX"))
    assert get(server.url + path).json()["error"] is None
