"""The sandbox's NetworkPolicy: no egress at all, ingress only from the pods of the sandbox's stage (RL or eval).

Model-written code must not reach the store, the API server or the internet; it gets
its input image in the request and returns results in the response.
"""

from __future__ import annotations

from typing import Any

from thyme_operator import names
from thyme_operator.builders import meta
from thyme_operator.builders.deployment import component_labels


def sandbox_deny_egress(owner: meta.Owner, port: int, stage: str = "rl") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": meta.object_meta(names.sandbox_policy(owner.name, stage), owner, names.stage_labels(owner.name, stage)),
        "spec": {
            "podSelector": {"matchLabels": component_labels(owner.name, "sandbox", stage)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": names.stage_labels(owner.name, stage)}}],
                         "ports": [{"protocol": "TCP", "port": port}]}],
            "egress": [],
        },
    }
