"""The run's vision tool servers: a Deployment + Service per tool, and the front over them.

Kubernetes is the registry OpenThinkIMG's controller and heartbeats were: a tool pod
joins its Service when its readiness probe (`/readyz`, true once the model has
loaded) passes, and leaves it when the pod dies; the Deployment replaces a lost pod.
CPU tools run in the tools image on CPU nodes; a tool with `gpus` runs in the trainer
image with the GPU scheduling of the run.
"""

from __future__ import annotations

from typing import Any

from thyme_operator import api, names
from thyme_operator.builders import deployment, meta, pods, service

TOOL_UID = 10001
MODEL_CACHE = "/var/cache/thyme-tools"
CHOOSER_KEY_ENV = "THYME_TOOLS_CHOOSER_KEY"


def tool_labels(run: str, tool_name: str | None) -> dict[str, str]:
    labels = {**names.run_labels(run), names.LABEL_COMPONENT: "tool" if tool_name else "tools-front"}
    if tool_name:
        labels[names.LABEL_TOOL] = names.TOOL_SHORT_NAMES[tool_name]
    return labels


def children(spec: api.ThymeRunSpec, owner: meta.Owner) -> list[dict[str, Any]]:
    """Every tool's Service and Deployment, then the front's, in creation order."""
    tools = spec.tools
    if tools is None:
        return []
    out: list[dict[str, Any]] = []
    for server in tools.servers:
        labels = tool_labels(owner.name, server.name)
        out += [service.cluster_ip(names.tool(owner.name, server.name), owner, labels, labels, tools.port),
                tool_deployment(spec, owner, server)]
    if tools.front:
        labels = tool_labels(owner.name, None)
        out += [service.cluster_ip(names.tools_front(owner.name), owner, labels, labels, tools.port),
                front_deployment(spec, owner)]
    return out


def worker_urls(spec: api.ThymeRunSpec, run: str, namespace: str) -> dict[str, str]:
    """Tool name -> its Service URL, as the front and the stage programs reach it."""
    port = spec.tools.port if spec.tools else 0
    return {s.name: f"http://{names.tool(run, s.name)}.{namespace}.svc:{port}" for s in (spec.tools.servers if spec.tools else [])}


def tool_deployment(spec: api.ThymeRunSpec, owner: meta.Owner, server: api.ToolServer) -> dict[str, Any]:
    tools = spec.tools
    assert tools is not None
    labels = tool_labels(owner.name, server.name)
    env = [
        {"name": "THYME_TOOLS_TOOL", "value": server.name},
        {"name": "THYME_TOOLS_DEVICE", "value": "cuda" if server.gpus else "cpu"},
        {"name": "THYME_TOOLS_MAX_CONCURRENCY", "value": str(server.max_concurrency)},
        {"name": "THYME_TOOLS_CALL_TIMEOUT", "value": str(server.call_timeout_seconds)},
        {"name": "THYME_TOOLS_MODEL_CACHE", "value": MODEL_CACHE},
    ]
    if server.model:
        env += [{"name": "THYME_TOOLS_MODEL", "value": server.model}, *pods.storage_env(spec)]
    if server.chooser:
        env += [{"name": "THYME_TOOLS_CHOOSER_ENDPOINT", "value": server.chooser.endpoint},
                {"name": "THYME_TOOLS_CHOOSER_MODEL", "value": server.chooser.model}]
        if server.chooser.api_key_secret_ref:
            ref = server.chooser.api_key_secret_ref
            env += [{"name": CHOOSER_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}},
                    {"name": "THYME_TOOLS_CHOOSER_API_KEY_ENV", "value": CHOOSER_KEY_ENV}]
    container = _container(spec, "tool", spec.images.trainer if server.gpus else spec.images.tools,
                           ["thyme", "tools", "serve", "--host", "0.0.0.0", "--port", str(tools.port)], env,
                           tools.port, pods.resources(server.cpu, server.memory, server.gpus))
    return deployment._deployment(names.tool(owner.name, server.name), owner, labels, server.replicas,
                       _pod_spec(spec, container, gpu=server.gpus > 0), spec)


def front_deployment(spec: api.ThymeRunSpec, owner: meta.Owner) -> dict[str, Any]:
    tools = spec.tools
    assert tools is not None
    urls = worker_urls(spec, owner.name, owner.namespace)
    env = [{"name": "THYME_TOOLS_WORKERS", "value": ",".join(f"{n}={u}" for n, u in urls.items())}]
    container = _container(spec, "front", spec.images.tools,
                           ["thyme", "tools", "front", "--host", "0.0.0.0", "--port", str(tools.port)], env,
                           tools.port, pods.resources("250m", "256Mi"))
    return deployment._deployment(names.tools_front(owner.name), owner, tool_labels(owner.name, None), 1,
                       _pod_spec(spec, container, gpu=False), spec)


def _container(spec: api.ThymeRunSpec, name: str, image: str, command: list[str], env: list[dict[str, Any]],
               port: int, resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name, "image": image, "imagePullPolicy": spec.images.pull_policy, "command": command, "env": env,
        "ports": [{"name": "http", "containerPort": port}],
        # Ready once the model has loaded (the worker loads it after it starts listening);
        # alive unless the load failed, so a bad model restarts the container with the reason in its log.
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": port}, "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 20, "failureThreshold": 3},
        "resources": resources,
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "model-cache", "mountPath": MODEL_CACHE}],
    }


def _pod_spec(spec: api.ThymeRunSpec, container: dict[str, Any], gpu: bool) -> dict[str, Any]:
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": TOOL_UID, "runAsGroup": TOOL_UID, "fsGroup": TOOL_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "model-cache", "emptyDir": {}}],
        **pods.scheduling(spec, gpu=gpu),
    }

