"""spec.tools on the real control plane: the operator creates a Deployment + Service per tool and
the front, their pods become Ready, a deleted tool pod is replaced by its Deployment, and the
tools go away when the run is suspended. kwok marks pods Ready without running the probe;
readiness-after-model-load itself is tested against real workers in tests/component/thyme_tools."""

from __future__ import annotations

import uuid

from testenv.kwok_cluster import RUN_MS_ANNOTATION

TOOLS = {"servers": [{"name": "Crop", "replicas": 2},
                     {"name": "grounding_dino", "model": "s3://models/gdino", "gpus": 1}]}


def _ready_replicas(thyme, namespace: str, name: str) -> int:
    return thyme.cluster.get_json("deployment", name, "-n", namespace).get("status", {}).get("readyReplicas", 0)


def test_tools_are_served_replaced_and_removed_with_the_run(thyme, thyme_operator, namespace):
    name = f"tools-{uuid.uuid4().hex[:5]}"
    manifest = thyme.run_manifest(name, namespace, tools=TOOLS,
                                  stages={"convert": {"shards": 1, "resources": {"cpu": "1", "memory": "1Gi"}}})
    manifest["spec"]["podMetadata"] = {"annotations": {RUN_MS_ANNOTATION: "300s"}}  # keep the run Running (a Go duration)
    thyme.apply(manifest)

    expected = {("Deployment", f"{name}-tool-crop"), ("Service", f"{name}-tool-crop"),
                ("Deployment", f"{name}-tool-gdino"), ("Service", f"{name}-tool-gdino"),
                ("Deployment", f"{name}-tools"), ("Service", f"{name}-tools")}

    def tool_children():
        found = {(c["kind"], c["metadata"]["name"]) for c in thyme.children(namespace, name, "services,deployments")}
        return found if expected <= found else None
    thyme.wait_for("the tool Deployments and Services", tool_children, timeout=60)
    for deployment, replicas in ((f"{name}-tool-crop", 2), (f"{name}-tool-gdino", 1), (f"{name}-tools", 1)):
        thyme.wait_for(f"{deployment} ready", lambda d=deployment, r=replicas: _ready_replicas(thyme, namespace, d) == r,
                       timeout=60)

    gdino = thyme.cluster.get_json("pods", "-n", namespace, "-l", f"thyme.dev/run={name},thyme.dev/tool=gdino")["items"]
    assert len(gdino) == 1 and gdino[0]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gdino[0]["spec"]["nodeName"]  # scheduled onto a (kwok) GPU node
    run = thyme.get_run(namespace, name)
    assert run["status"]["phase"] == "Running", run["status"]
    service = thyme.cluster.get_json("service", f"{name}-tool-crop", "-n", namespace)
    assert service["spec"]["selector"]["thyme.dev/tool"] == "crop"

    # A tool pod dies: its Deployment replaces it and the Service has two ready pods again.
    crop_selector = f"thyme.dev/run={name},thyme.dev/tool=crop"
    before = {p["metadata"]["name"] for p in thyme.cluster.get_json("pods", "-n", namespace, "-l", crop_selector)["items"]}
    victim = sorted(before)[0]
    thyme.cluster.kubectl("delete", "pod", victim, "-n", namespace, "--wait=false")

    def replaced():
        pods = thyme.cluster.get_json("pods", "-n", namespace, "-l", crop_selector)["items"]
        live = {p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")}
        return live if victim not in live and len(live) == 2 else None
    live = thyme.wait_for("a replacement crop pod", replaced, timeout=60)
    assert live - before  # a new pod, not the old one coming back
    thyme.wait_for("crop ready again", lambda: _ready_replicas(thyme, namespace, f"{name}-tool-crop") == 2, timeout=60)

    # Suspending the run frees the tools' nodes (and GPUs).
    thyme.patch_spec(namespace, name, {"suspend": True})
    thyme.wait_for("tools removed on suspend",
                   lambda: not [d for d in thyme.children(namespace, name, "deployments")
                                if d["metadata"]["name"].startswith(f"{name}-tool")], timeout=60)
