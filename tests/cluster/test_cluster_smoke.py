"""The control plane is real: Jobs get pods, pods get scheduled on fake GPU nodes,
kwok moves them to completion, and the Job controller reacts."""

import time
import uuid

import yaml

from testenv.kwok_cluster import FAIL_LABEL


def gpu_job(name: str, labels: dict | None = None) -> str:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels or {}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "train",
                        "image": "example.invalid/trainer:1",
                        "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}},
                    }],
                },
            },
        },
    }
    return yaml.safe_dump(job)


def wait_for_condition(cluster, name: str, condition: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    job = {}
    while time.monotonic() < deadline:
        job = cluster.get_json("job", name, "-n", "default")
        for cond in job.get("status", {}).get("conditions", []):
            if cond["type"] == condition and cond["status"] == "True":
                return job
        time.sleep(0.5)
    raise AssertionError(f"job {name} never reached {condition}: {job.get('status')}")


def test_gpu_job_is_scheduled_on_a_gpu_node_and_completes(kwok_cluster):
    name = "smoke-ok-" + uuid.uuid4().hex[:6]
    kwok_cluster.kubectl("apply", "-f", "-", input=gpu_job(name))
    job = wait_for_condition(kwok_cluster, name, "Complete")
    assert job["status"]["succeeded"] == 1

    pods = kwok_cluster.get_json("pods", "-n", "default", "-l", f"job-name={name}")["items"]
    assert len(pods) == 1
    node = pods[0]["spec"]["nodeName"]
    assert node.startswith("gpu-node-")
    capacity = kwok_cluster.get_json("node", node)["status"]["capacity"]
    assert capacity["nvidia.com/gpu"] == "8"


def test_pod_labelled_to_fail_makes_its_job_fail(kwok_cluster):
    name = "smoke-fail-" + uuid.uuid4().hex[:6]
    kwok_cluster.kubectl("apply", "-f", "-", input=gpu_job(name, labels={FAIL_LABEL: "true"}))
    job = wait_for_condition(kwok_cluster, name, "Failed")
    assert job["status"].get("failed") == 1
    assert not job["status"].get("succeeded")
