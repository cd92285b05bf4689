"""Services: the headless rendezvous Service of SFT and the RL servers' Services."""

from __future__ import annotations

from typing import Any

from thyme_operator import names
from thyme_operator.builders import meta


def headless(name: str, owner: meta.Owner, labels: dict[str, str], selector: dict[str, str],
             port: int) -> dict[str, Any]:
    """Gives each selected pod a DNS name `<hostname>.<name>`; torchrun's node 0 is
    reachable before it is Ready, hence publishNotReadyAddresses."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta.object_meta(name, owner, labels),
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": dict(selector),
                     "ports": [{"name": "rendezvous", "port": port, "targetPort": port}]}}


def cluster_ip(name: str, owner: meta.Owner, labels: dict[str, str], selector: dict[str, str],
               port: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta.object_meta(name, owner, labels),
            "spec": {"selector": dict(selector), "ports": [{"name": "http", "port": port, "targetPort": port}]}}


def sft_rendezvous(owner: meta.Owner, port: int) -> dict[str, Any]:
    labels = names.stage_labels(owner.name, "sft")
    return headless(names.sft_service(owner.name), owner, labels, labels, port)
