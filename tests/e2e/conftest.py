"""The e2e tier's cluster: a real control plane (kwokctl, self-built binaries) with one
kwok node, tainted so nothing real lands on it, and one real kubelet node
(`testenv.real_node`) that runs every pod: containerd + runc, runsc for the `gvisor`
RuntimeClass, CNI bridge networking, kube-proxy and CoreDNS.

The images come from `tests/env/build-images.sh` (no registry). Teardown removes
the node's processes, mounts, interfaces, cgroups and nftables tables even when a test
fails, and fails the session if anything is left.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testenv.kwok_cluster import KwokCluster
from testenv.processes import wait_for
from testenv.real_node import KUBERNETES_SERVICE_IP, RealNode

ROOT = Path(__file__).resolve().parents[2]
FAKE_TAINT = "thyme.test/fake-node=true:NoSchedule"


def image_refs() -> dict[str, str]:
    """NAME -> localhost/thyme/NAME:<content hash>, as build-images.sh computes them."""
    out = subprocess.run(["bash", str(ROOT / "tests/env/build-images.sh"), "--refs"], capture_output=True,
                         text=True, check=True).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


@dataclass
class E2E:
    cluster: KwokCluster
    node: RealNode
    images: dict[str, str]

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 180, check: bool = True) -> str:
        return self.cluster.kubectl(*args, input=input, timeout=timeout, check=check)

    def get_json(self, *args: str) -> dict:
        return self.cluster.get_json(*args)

    def describe_pods(self, namespace: str) -> str:
        """What a failure message needs: each pod's phase and container states."""
        pods = self.get_json("pods", "-n", namespace)["items"]
        lines = []
        for p in pods:
            states = [json.dumps(s.get("state")) for s in p.get("status", {}).get("containerStatuses", [])]
            lines.append(f"{p['metadata']['name']}: {p['status'].get('phase')} {' '.join(states)}")
        return "\n".join(lines) or f"(no pods in {namespace})"

    def run_pod(self, name: str, namespace: str, image: str, command: list[str], timeout: float = 180,
                runtime_class: str | None = None) -> str:
        """Run a one-shot pod to completion on the real node and return its log."""
        spec = {"restartPolicy": "Never", "containers": [{"name": "main", "image": image, "command": command,
                                                           "imagePullPolicy": "Never"}]}
        if runtime_class:
            spec["runtimeClassName"] = runtime_class
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec}
        # The controller-manager creates a namespace's `default` ServiceAccount a moment
        # after the namespace; a pod created before that is refused.
        wait_for(f"the default ServiceAccount of {namespace}",
                 lambda: self.kubectl("get", "serviceaccount", "default", "-n", namespace, check=False), timeout=120)
        self.kubectl("apply", "-f", "-", input=json.dumps(pod))

        def finished():
            phase = self.get_json("pod", name, "-n", namespace)["status"].get("phase")
            return phase if phase in ("Succeeded", "Failed") else None

        phase = wait_for(f"pod {namespace}/{name} to finish", finished, timeout=timeout, interval=1)
        log = self.kubectl("logs", name, "-n", namespace)
        assert phase == "Succeeded", f"pod {name} {phase}:\n{log[-3000:]}\n{self.describe_pods(namespace)}"
        return log


@pytest.fixture(scope="session")
def e2e(tmp_path_factory) -> Iterator[E2E]:
    images = image_refs()
    cluster = KwokCluster(workdir=tmp_path_factory.mktemp("kwok-e2e"), real_nodes=True,
                          cert_sans=[KUBERNETES_SERVICE_IP])
    node = None
    try:
        cluster.create(nodes=1)
        cluster.kubectl("taint", "node", "gpu-node-0", FAKE_TAINT)
        node = RealNode(kubeconfig=cluster.kubeconfig, workdir=tmp_path_factory.mktemp("real-node"),
                        pause_image=images["pause"])
        node.start()
        node.ensure_image(images["operator"], "operator")
        yield E2E(cluster=cluster, node=node, images=images)
    finally:
        left = []
        try:
            if node is not None:
                node.stop()
                left = node.leftovers()
        finally:
            cluster.delete()
        assert not left, f"the real node left these behind: {left}"
