"""The local executor turns spec.tools' Deployments into `thyme tools serve|front` processes,
ready before any stage runs, tells stage programs where they are, and stops them with the run."""

from __future__ import annotations

import base64
import functools
import io
import json

import httpx
from PIL import Image

from thyme_cli.local_executor import LocalExecutor, UriMap
from thyme_operator import api
from thyme_operator.builders import meta, tools

# generous timeouts: the test machine may be loaded far past its cores
post = functools.partial(httpx.post, timeout=60)
get = functools.partial(httpx.get, timeout=60)

RUN = {"apiVersion": "thyme.dev/v1alpha1", "kind": "ThymeRun", "metadata": {"name": "local-tools"}, "spec": {
    "storage": {"endpoint": "127.0.0.1:9", "bucket": "thyme", "secretRef": {"name": "none"}, "secure": False},
    "dataset": {"source": "s3://datasets/none", "splits": ["a"]},
    "model": {"base": "s3://models/none"},
    "stages": {"convert": {}},
    "tools": {"servers": [{"name": "Crop"}, {"name": "DrawVerticalLineByX", "maxConcurrency": 2}]},
}}


def test_tool_deployments_become_local_ready_processes_and_stop_with_the_run(tmp_path):
    run = api.ThymeRun.model_validate(RUN)
    executor = LocalExecutor(run, UriMap(tmp_path / "store"), tmp_path / "logs")
    executor.log_dir.mkdir(parents=True)
    children = tools.children(run.spec, meta.Owner("local-tools", "local", "local"))
    try:
        for child in children:
            executor._create(child)
        env = executor.tool_env()
        addresses = json.loads(env["THYME_TOOLS_ADDRESSES"])
        assert set(addresses) == {"Crop", "DrawVerticalLineByX"}
        front = env["THYME_TOOLS_FRONT_URL"]
        assert post(front + "/list_models").json() == {"models": ["Crop", "DrawVerticalLineByX"]}
        status = post(addresses["DrawVerticalLineByX"] + "/worker_get_status").json()
        assert status["model_names"] == ["DrawVerticalLineByX"]
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), "white").save(buffer, "JPEG")
        answer = post(addresses["Crop"] + "/worker_generate",
                            json={"param": "[0, 0, 32, 24]", "image": base64.b64encode(buffer.getvalue()).decode()},
                            timeout=30).json()
        assert answer["error_code"] == 0
        procs = [proc for proc, _ in executor._tools.values()]
    finally:
        for child in children:
            executor._delete(child["kind"], child["metadata"]["name"])
    assert executor._tools == {} and all(proc.poll() is not None for proc in procs)
    assert executor.tool_env() == {}
