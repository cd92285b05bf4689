"""Long-running servers: the sandbox (RL and eval), rollout (vLLM) and, if asked, the judge (vLLM).

The sandbox runs model-written code, so its pods run under the gVisor RuntimeClass,
with no service-account token, a read-only root filesystem, no privilege escalation,
seccomp RuntimeDefault and (see networkpolicy.py) no egress. Its server is root of the
pod's gVisor kernel with six capabilities, which the baseline Pod Security profile
allows and the restricted one does not: that is what gives each session its own uid.
"""

from __future__ import annotations

from typing import Any

from thyme_operator import api, names, sandbox_capacity
from thyme_operator.builders import meta, pods

# The sandbox server is uid 0 of the pod's gVisor kernel (not of the node: gVisor's
# sentry runs unprivileged on the host) holding only what the process launcher needs
# to give each worker a uid of its own; the workers hold nothing (see
# thyme_sandbox/isolation.py). A server without these could only run every session
# under its own uid, where sessions read each other's images and signal the server.
SANDBOX_STATE_DIR = "/sandbox-state"
SANDBOX_CAPABILITIES = ["SETUID", "SETGID", "KILL", "CHOWN", "DAC_OVERRIDE", "FOWNER"]


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


def _mebibytes(value: int) -> str:
    return f"{value // sandbox_capacity.MIB}Mi"


def sandbox(spec: api.ThymeRunSpec, owner: meta.Owner, port: int, stage: str = "rl") -> dict[str, Any]:
    cfg = getattr(spec.stages, stage).sandbox
    labels = component_labels(owner.name, "sandbox", stage)
    room = sandbox_capacity.capacity(cfg.memory, cfg.cpu)
    settings = {
        "CALL_TIMEOUT": cfg.timeout_seconds, "MAX_WORKERS": room.workers, "POOL_SIZE": room.workers,
        "MAX_STARTS": room.max_starts, "MEMORY_BYTES": room.worker_memory_bytes,
        "SCRATCH_BYTES": room.scratch_bytes, "STATE_DIR": SANDBOX_STATE_DIR,
        # Sessions name the pod that holds them; the trainer sends their calls here.
        "REPLICA_URL": f"http://$(POD_IP):{port}",
    }
    resources = pods.resources(cfg.cpu, cfg.memory)
    for amounts in resources.values():
        amounts["ephemeral-storage"] = _mebibytes(room.scratch_volume_bytes)
    container = {
        "name": "sandbox", "image": spec.images.sandbox, "imagePullPolicy": spec.images.pull_policy,
        # The pod itself runs under gVisor (runtimeClassName), so workers are plain
        # processes (`--launcher process`), each its own uid on its own empty network;
        # listen on all interfaces so the RL trainer reaches it through the Service.
        "command": ["thyme", "sandbox", "serve", "--host", "0.0.0.0", "--port", str(port), "--launcher", "process"],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                *({"name": f"THYME_SANDBOX_{k}", "value": str(v)} for k, v in settings.items())],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": port}},
        "resources": resources,
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": False, "runAsUser": 0, "runAsGroup": 0,
                            "capabilities": {"drop": ["ALL"], "add": list(SANDBOX_CAPABILITIES)}},
        "volumeMounts": [{"name": "state", "mountPath": SANDBOX_STATE_DIR},
                         # gVisor puts a writable tmpfs on /tmp when nothing is mounted there,
                         # where sessions could leave files for each other: mount it read-only.
                         {"name": "no-tmp", "mountPath": "/tmp", "readOnly": True}],
    }
    pod_spec = {
        "runtimeClassName": cfg.runtime_class_name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        # The only writable place: workers' directories under it, made private by the
        # server. On disk, not in memory (a memory-backed volume would count every
        # session's files against the pod's memory limit), sized for every worker's
        # scratch at once. No writable /tmp: sessions would share it.
        "volumes": [{"name": "state", "emptyDir": {"sizeLimit": _mebibytes(room.scratch_volume_bytes)}},
                    {"name": "no-tmp", "emptyDir": {"sizeLimit": "1Mi"}}],
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
