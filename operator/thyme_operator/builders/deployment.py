"""Long-running servers: the sandbox (RL and eval), rollout (vLLM) and, if asked, the judge (vLLM).

The sandbox runs model-written code, so its pods are locked down the way the
restricted Pod Security profile asks, under the gVisor RuntimeClass, with no
service-account token and (see networkpolicy.py) no egress.
"""

from __future__ import annotations

from typing import Any

from thyme_operator import api, names
from thyme_operator.builders import meta, pods

SANDBOX_UID = 65532


def _deployment(name: str, owner: meta.Owner, labels: dict[str, str], replicas: int,
                pod_spec: dict[str, Any], spec: api.ThymeRunSpec) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta.object_meta(name, owner, labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": pods.pod_labels(spec, labels),
                                      "annotations": pods.pod_annotations(spec)},
                         "spec": pod_spec},
        },
    }


def component_labels(run: str, component: str, stage: str = "rl") -> dict[str, str]:
    return {**names.stage_labels(run, stage), names.LABEL_COMPONENT: component}


def sandbox(spec: api.ThymeRunSpec, owner: meta.Owner, port: int, stage: str = "rl") -> dict[str, Any]:
    cfg = getattr(spec.stages, stage).sandbox
    labels = component_labels(owner.name, "sandbox", stage)
    container = {
        "name": "sandbox", "image": spec.images.sandbox, "imagePullPolicy": spec.images.pull_policy,
        # The pod itself runs under gVisor (runtimeClassName), so workers are plain
        # processes with their own uid and rlimits (`--launcher process`); listen on all
        # interfaces so the RL trainer reaches it through the Service.
        "command": ["thyme", "sandbox", "serve", "--host", "0.0.0.0", "--port", str(port), "--launcher", "process"],
        "env": [{"name": "THYME_SANDBOX_CALL_TIMEOUT", "value": str(cfg.timeout_seconds)}],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": port}},
        "resources": pods.resources(cfg.cpu, cfg.memory),
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod_spec = {
        "runtimeClassName": cfg.runtime_class_name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": SANDBOX_UID, "runAsGroup": SANDBOX_UID,
                            "fsGroup": SANDBOX_UID, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}}],
        **pods.scheduling(spec, gpu=False),
    }
    return _deployment(names.stage_part(owner.name, stage, "sandbox"), owner, labels, cfg.replicas, pod_spec, spec)


def vllm_server(spec: api.ThymeRunSpec, owner: meta.Owner, component: str, model_uri: str,
                served_name: str, gpus: int, replicas: int, port: int) -> dict[str, Any]:
    """An OpenAI-compatible vLLM server streaming weights straight from S3."""
    labels = component_labels(owner.name, component)
    container = {
        "name": component, "image": spec.images.trainer, "imagePullPolicy": spec.images.pull_policy,
        "command": ["vllm", "serve", model_uri, "--load-format", "runai_streamer",
                    "--served-model-name", served_name, "--port", str(port),
                    "--tensor-parallel-size", str(gpus)],
        "env": [*pods.storage_env(spec), {"name": "AWS_ENDPOINT_URL", "value": "$(THYME_S3_ENDPOINT)"}],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": port}},
        "resources": pods.resources("8", "64Gi", gpus),
        # tensor-parallel workers talk through shared memory; a container's default is 64 MiB
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
    }
    pod_spec = {"automountServiceAccountToken": False, "containers": [container],
                "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}],
                **pods.scheduling(spec, gpu=True)}
    return _deployment(names.rl_part(owner.name, component), owner, labels, replicas, pod_spec, spec)
