"""The real node itself: it joins beside the kwok node with GPUs advertised, and its
pods really run (containerd + runc), get the cluster's DNS in resolv.conf, resolve
Service names through CoreDNS behind the kube-dns Service, and reach the API server at
the `kubernetes` Service's ClusterIP through kube-proxy, verifying it with their
ServiceAccount's CA. `kubectl logs` reads the container's output through kubelet."""

from __future__ import annotations

import json

from testenv.real_node import DNS_SERVICE_IP

PROBE = """
import json, socket, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
ctx = ssl.create_default_context(cafile=sa + "/ca.crt")
# /api needs an authenticated caller: it proves the projected token is accepted.
req = urllib.request.Request("https://kubernetes.default.svc/api",
                             headers={"Authorization": "Bearer " + open(sa + "/token").read()})
out = {"api_ip": socket.gethostbyname("kubernetes.default.svc.cluster.local"),
       "dns_ip": socket.gethostbyname("kube-dns.kube-system.svc"),
       "resolv": open("/etc/resolv.conf").read(),
       "healthz": urllib.request.urlopen("https://kubernetes.default.svc/healthz", context=ctx, timeout=20).read().decode()}
with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
    out["api_kind"] = json.load(r)["kind"]
print(json.dumps(out))
"""


def test_the_node_joins_beside_the_kwok_node_with_gpus(e2e):
    nodes = {n["metadata"]["name"]: n for n in e2e.get_json("nodes")["items"]}
    assert set(nodes) == {e2e.node.name, "gpu-node-0"}
    real = nodes[e2e.node.name]
    conditions = {c["type"]: c["status"] for c in real["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert real["status"]["allocatable"]["nvidia.com/gpu"] == str(e2e.node.gpus)
    assert real["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://1.")
    assert real["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.36")


def test_a_pod_resolves_service_names_and_reaches_the_api_server_by_cluster_ip(e2e):
    e2e.kubectl("create", "namespace", "probe")
    log = e2e.run_pod("probe", "probe", e2e.images["operator"], ["python", "-c", PROBE])
    out = json.loads(log.strip().splitlines()[-1])
    assert out["api_ip"] == e2e.get_json("service", "kubernetes", "-n", "default")["spec"]["clusterIP"]
    assert out["dns_ip"] == DNS_SERVICE_IP
    assert f"nameserver {DNS_SERVICE_IP}" in out["resolv"] and "svc.cluster.local" in out["resolv"]
    assert out["healthz"] == "ok" and out["api_kind"] == "APIVersions"
    pod = e2e.get_json("pod", "probe", "-n", "probe")
    assert pod["spec"]["nodeName"] == e2e.node.name
    assert pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
