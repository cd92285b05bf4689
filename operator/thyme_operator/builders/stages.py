"""Which children a stage attempt needs, in the order they should be created.

Supporting objects (Services, servers, policies) come before the Job, so the Job's
pods find their rendezvous name or sandbox when they start.
"""

from __future__ import annotations

from typing import Any

from thyme_operator import api, names, stage_configs
from thyme_operator.builders import deployment, job, meta, networkpolicy, service


def workloads(spec: api.ThymeRunSpec, owner: meta.Owner, stage: str, attempt: int) -> list[dict[str, Any]]:
    config = stage_configs.stage_config(spec, owner.namespace, owner.name, stage)
    out: list[dict[str, Any]] = []
    if stage == "sft":
        out.append(service.sft_rendezvous(owner, spec.stages.sft.master_port))
    if stage == "rl":
        rl = spec.stages.rl
        if rl.recipe == "thyme":  # deepeyes crops in the trainer, openthinkimg calls spec.tools' servers
            out += [
                networkpolicy.sandbox_deny_egress(owner, stage_configs.SANDBOX_PORT),
                deployment.sandbox(spec, owner, stage_configs.SANDBOX_PORT),
                _server_service(owner, "sandbox", stage_configs.SANDBOX_PORT),
            ]
        out += [
            deployment.vllm_server(spec, owner, "rollout", config["model"], "policy", rl.rollout.gpus_per_replica,
                                   rl.rollout.replicas, stage_configs.ROLLOUT_PORT),
            _server_service(owner, "rollout", stage_configs.ROLLOUT_PORT),
        ]
        if rl.judge is not None and rl.judge.model:
            out += [
                deployment.vllm_server(spec, owner, "judge", rl.judge.model, rl.judge.model_name, rl.judge.gpus, 1,
                                       stage_configs.JUDGE_PORT),
                _server_service(owner, "judge", stage_configs.JUDGE_PORT),
            ]
    if stage == "eval":
        out += [
            networkpolicy.sandbox_deny_egress(owner, stage_configs.SANDBOX_PORT, stage="eval"),
            deployment.sandbox(spec, owner, stage_configs.SANDBOX_PORT, stage="eval"),
            _server_service(owner, "sandbox", stage_configs.SANDBOX_PORT, stage="eval"),
        ]
    out.append(job.stage_job(spec, owner, stage, attempt, config))
    return out


def _server_service(owner: meta.Owner, component: str, port: int, stage: str = "rl") -> dict[str, Any]:
    labels = deployment.component_labels(owner.name, component, stage)
    return service.cluster_ip(names.stage_part(owner.name, stage, component), owner, labels, labels, port)
