"""What stage pods share: the config and credentials in env, labels, scheduling.

Credentials reach pods only through `secretKeyRef` to the Secret the spec names; the
operator never reads the Secret (and its RBAC cannot).
"""

from __future__ import annotations

import json
from typing import Any

from thyme_operator import api

ENV_CONFIG = "THYME_STAGE_CONFIG"


def storage_env(spec: api.ThymeRunSpec) -> list[dict[str, Any]]:
    storage = spec.storage
    scheme = "https" if storage.secure else "http"
    ref = storage.secret_ref
    return [
        {"name": "THYME_S3_ENDPOINT", "value": f"{scheme}://{storage.endpoint}"},
        {"name": "AWS_ACCESS_KEY_ID",
         "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.access_key_id_key}}},
        {"name": "AWS_SECRET_ACCESS_KEY",
         "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.secret_access_key_key}}},
    ]


def config_env(config: dict[str, Any]) -> dict[str, Any]:
    return {"name": ENV_CONFIG, "value": json.dumps(config, sort_keys=True, separators=(",", ":"))}


def pod_labels(spec: api.ThymeRunSpec, own: dict[str, str]) -> dict[str, str]:
    """User labels first, so ours (run, stage, attempt) win on a clash."""
    return {**spec.pod_metadata.labels, **own}


def pod_annotations(spec: api.ThymeRunSpec) -> dict[str, str]:
    return dict(spec.pod_metadata.annotations)


def scheduling(spec: api.ThymeRunSpec, gpu: bool) -> dict[str, Any]:
    """priorityClassName for every pod; nodeSelector and tolerations for GPU pods."""
    out: dict[str, Any] = {}
    sched = spec.scheduling
    if sched.priority_class_name:
        out["priorityClassName"] = sched.priority_class_name
    if gpu:
        if sched.node_selector:
            out["nodeSelector"] = dict(sched.node_selector)
        if sched.tolerations:
            out["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in sched.tolerations]
    return out


def resources(cpu: str, memory: str, gpus: int = 0, ephemeral_storage: str | None = None) -> dict[str, Any]:
    amounts: dict[str, str] = {"cpu": cpu, "memory": memory}
    if gpus:
        amounts["nvidia.com/gpu"] = str(gpus)
    if ephemeral_storage:
        amounts["ephemeral-storage"] = ephemeral_storage
    return {"requests": dict(amounts), "limits": dict(amounts)}


SCRATCH_PATH = "/scratch"
ENV_WORK_DIR = "THYME_WORK_DIR"


def gpu_resources(res: api.GPUPodResources, gpus: int) -> dict[str, Any]:
    """Requests = limits, with the scratch volume's size as ephemeral-storage: the
    scheduler then places the pod on a node with that much local disk, and the kubelet
    evicts only this pod (not its neighbours) if it writes past it."""
    return resources(res.cpu, res.memory, gpus, ephemeral_storage=res.scratch)


def gpu_storage(res: api.GPUPodResources) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volumeMounts, env) of a GPU pod: a sized scratch emptyDir at /scratch,
    which THYME_WORK_DIR and TMPDIR name so the stage programs' downloads, checkpoints
    and temporary files go there, and a memory-backed /dev/shm."""
    volumes = [{"name": "scratch", "emptyDir": {"sizeLimit": res.scratch}},
               {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": res.shm}}]
    mounts = [{"name": "scratch", "mountPath": SCRATCH_PATH}, {"name": "dshm", "mountPath": "/dev/shm"}]
    env = [{"name": ENV_WORK_DIR, "value": SCRATCH_PATH}, {"name": "TMPDIR", "value": SCRATCH_PATH}]
    return volumes, mounts, env
