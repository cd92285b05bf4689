"""Stage Jobs: one per stage attempt, named `<run>-<stage>-<attempt>`.

`backoffLimit: 0`: the operator owns retries (with backoff, checkpoint resume and a
Failed condition naming the stage), so the Job must not retry behind its back; a
multi-node torchrun group also has to restart as a whole, never pod by pod.

A program that refuses its config or input exits with `exits.USAGE_ERROR`; a
`podFailurePolicy` rule fails the Job at once with reason `PodFailurePolicy` (and stops
the other shards' pods), which the planner does not retry. The container's termination
message is the program's own error line (`thyme_jobs.failures`), or the log's tail when
a crash wrote none (`FallbackToLogsOnError`); the operator copies it into the status.
"""

from __future__ import annotations

from typing import Any

from thyme_operator import api, exits, names
from thyme_operator.builders import meta, pods

COMPLETION_INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def stage_job(spec: api.ThymeRunSpec, owner: meta.Owner, stage: str, attempt: int,
              config: dict[str, Any]) -> dict[str, Any]:
    name = names.job(owner.name, stage, attempt)
    labels = names.stage_labels(owner.name, stage, attempt)
    job_labels = dict(labels)
    if spec.scheduling.queue_name:
        job_labels[names.KUEUE_QUEUE_LABEL] = spec.scheduling.queue_name
    env = [pods.config_env(config), *pods.storage_env(spec), {"name": "THYME_ATTEMPT", "value": str(attempt)}]
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "automountServiceAccountToken": False}
    job_spec: dict[str, Any] = {"backoffLimit": 0, "suspend": bool(spec.scheduling.queue_name)}

    if stage == "convert":
        cfg = spec.stages.convert
        job_spec.update(completionMode="Indexed", completions=cfg.shards, parallelism=cfg.shards)
        container = {"name": "convert", "image": spec.images.jobs, "command": ["thyme", "convert"],
                     "resources": pods.resources(cfg.resources.cpu, cfg.resources.memory)}
        pod_spec.update(pods.scheduling(spec, gpu=False))
    elif stage == "sft":
        cfg = spec.stages.sft
        job_spec.update(completionMode="Indexed", completions=cfg.nodes, parallelism=cfg.nodes)
        env += [
            {"name": "MASTER_ADDR", "value": f"{names.pod_hostname(owner.name, 'sft', attempt, 0)}.{names.sft_service(owner.name)}"},
            {"name": "MASTER_PORT", "value": str(cfg.master_port)},
            {"name": "NNODES", "value": str(cfg.nodes)},
            {"name": "NPROC_PER_NODE", "value": str(cfg.gpus_per_node)},
            {"name": "NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX_FIELD}}},
        ]
        container = {
            "name": "sft", "image": spec.images.trainer,
            "command": ["torchrun", "--nnodes=$(NNODES)", "--nproc-per-node=$(NPROC_PER_NODE)",
                        "--node-rank=$(NODE_RANK)", "--master-addr=$(MASTER_ADDR)", "--master-port=$(MASTER_PORT)",
                        "-m", "thyme_cli.main", "sft"],
            "ports": [{"name": "rendezvous", "containerPort": cfg.master_port}],
            "resources": pods.gpu_resources(cfg.resources, cfg.gpus_per_node),
        }
        pod_spec.update(subdomain=names.sft_service(owner.name), **pods.scheduling(spec, gpu=True))
    elif stage == "rl":
        cfg = spec.stages.rl
        job_spec.update(completions=1, parallelism=1)
        env.append({"name": "THYME_ROLLOUT_URL", "value": f"http://{names.rl_part(owner.name, 'rollout')}:8000/v1"})
        # one trainer process per GPU on this one node; --standalone rendezvouses on localhost
        container = {"name": "rl", "image": spec.images.trainer,
                     "command": ["torchrun", "--standalone", f"--nproc-per-node={cfg.gpus}",
                                 "-m", "thyme_cli.main", "rl"],
                     "resources": pods.gpu_resources(cfg.resources, cfg.gpus)}
        pod_spec.update(pods.scheduling(spec, gpu=True))
    elif stage == "eval":
        cfg = spec.stages.eval
        # one pod per shard; each reads its index from JOB_COMPLETION_INDEX, the last to finish merges
        job_spec.update(completionMode="Indexed", completions=cfg.shards, parallelism=cfg.shards)
        gpu = cfg.gpus_per_shard > 0
        container = {"name": "eval", "image": spec.images.trainer if gpu else spec.images.jobs,
                     "command": ["thyme", "eval"],
                     "resources": pods.gpu_resources(cfg.resources, cfg.gpus_per_shard)}
        pod_spec.update(pods.scheduling(spec, gpu=gpu))
    else:
        raise ValueError(f"unknown stage {stage!r}")

    if stage in ("sft", "rl", "eval"):
        volumes, mounts, storage_env = pods.gpu_storage(cfg.resources)
        env += storage_env
        container["volumeMounts"] = mounts
        pod_spec["volumes"] = volumes
    container.update(env=env, imagePullPolicy=spec.images.pull_policy, terminationMessagePolicy="FallbackToLogsOnError")
    pod_spec["containers"] = [container]
    job_spec["podFailurePolicy"] = {"rules": [
        {"action": "FailJob", "onExitCodes": {"containerName": container["name"], "operator": "In",
                                              "values": [exits.USAGE_ERROR]}}]}
    job_spec["template"] = {
        "metadata": {"labels": pods.pod_labels(spec, labels), "annotations": pods.pod_annotations(spec)},
        "spec": pod_spec,
    }
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": meta.object_meta(name, owner, job_labels), "spec": job_spec}
