"""OpenThinkIMG's client finds and calls the workers through the front unchanged.

`OpenThinkIMGToolManager` below is written from the calls OpenThinkIMG's `ToolManager`
makes (research notes, part A1): `/refresh_all_workers`, `/list_models`, then
`/get_worker_address` once per tool, then every call straight to the worker's
`/worker_generate`. Nothing in it knows about our servers.
"""

import functools
import threading

import httpx
import pytest

from thyme_tools import front
from thyme_tools.protocol import GenerateRequest, GenerateResponse
from thyme_tools.serving import InProcessServer
from thyme_tools.settings import FrontSettings, WorkerSettings
from thyme_tools.tools import Tool

from .conftest import decode

# generous timeouts: the test machine may be loaded far past its cores
post = functools.partial(httpx.post, timeout=60)
get = functools.partial(httpx.get, timeout=60)


class OpenThinkIMGToolManager:
    def __init__(self, controller_url: str) -> None:
        self.controller = controller_url
        post(self.controller + "/refresh_all_workers", timeout=10)
        self.available_tools = post(self.controller + "/list_models", timeout=10).json()["models"]
        self.addresses = {}
        for name in self.available_tools:
            address = post(self.controller + "/get_worker_address", json={"model": name}, timeout=10).json()["address"]
            if address:
                self.addresses[name] = address

    def call_tool(self, name: str, params: dict) -> dict:
        return post(self.addresses[name] + "/worker_generate", json=params, timeout=60).json()


class NeverLoads(Tool):
    name = "OCR"

    def __init__(self) -> None:
        self.stop = threading.Event()

    def load(self) -> None:
        self.stop.wait(60)

    def call(self, request: GenerateRequest) -> GenerateResponse:
        return GenerateResponse(text="unreachable")


@pytest.fixture
def cluster_of_tools(start_worker):
    crop = start_worker(WorkerSettings(tool="Crop"))
    draw = start_worker(WorkerSettings(tool="DrawHorizontalLineByY"))
    loading_tool = NeverLoads()
    loading = start_worker(WorkerSettings(tool="OCR", model="unused"), loading_tool, ready=False)
    workers = {"Crop": crop.url, "DrawHorizontalLineByY": draw.url, "OCR": loading.url,
               "Point": "http://127.0.0.1:9"}  # nothing listens there
    server = InProcessServer(front.create_app(FrontSettings(workers=workers, probe_timeout=1))).start()
    yield server, workers
    loading_tool.stop.set()
    server.stop()


def test_the_openthinkimg_client_lists_ready_tools_and_calls_them(cluster_of_tools, photo_b64):
    server, workers = cluster_of_tools
    manager = OpenThinkIMGToolManager(server.url)
    assert manager.available_tools == ["Crop", "DrawHorizontalLineByY"]  # loading and unreachable ones are not listed
    assert manager.addresses == {"Crop": workers["Crop"], "DrawHorizontalLineByY": workers["DrawHorizontalLineByY"]}
    out = manager.call_tool("Crop", {"param": "[0, 0, 64, 48]", "image": photo_b64})
    assert out["error_code"] == 0 and decode(out["edited_image"]).size == (64, 48)


def test_an_address_is_empty_for_an_unknown_or_unready_tool(cluster_of_tools):
    server, _ = cluster_of_tools
    for name in ("OCR", "Point", "Magnify"):
        assert post(server.url + "/get_worker_address", json={"model": name}).json() == {"address": ""}
    assert post(server.url + "/get_worker_address", content=b"nope").json() == {"address": ""}


def test_the_front_reports_itself_as_one_worker_of_the_ready_tools(cluster_of_tools):
    server, _ = cluster_of_tools
    status = post(server.url + "/worker_get_status").json()
    assert status["model_names"] == ["Crop", "DrawHorizontalLineByY"] and status["speed"] == 2
    refreshed = post(server.url + "/refresh_all_workers").json()
    assert refreshed["workers"] == {"Crop": True, "DrawHorizontalLineByY": True, "OCR": False, "Point": False}


async def test_our_async_client_resolves_through_the_front(cluster_of_tools, photo_b64):
    from thyme_tools.client import ToolClient, ToolUnavailable

    server, workers = cluster_of_tools
    async with await ToolClient.from_front(server.url) as client:
        assert set(client.addresses) == {"Crop", "DrawHorizontalLineByY"}
        answer = await client.call("DrawHorizontalLineByY", "y=10", photo_b64)
        assert answer.error_code == 0 and answer.edited_image
        with pytest.raises(ToolUnavailable, match="OCR"):
            await client.call("OCR", None, photo_b64)
