"""The Helm chart on a real control plane: the rendered manifests pass the API
server's validation, `helm install` brings the operator's pod up on a kwok node, and a
ThymeRun applied afterwards runs to Succeeded with the operator authenticated as the
chart's ServiceAccount, so the chart's RBAC is what is exercised.

This module gets a cluster of its own: the session cluster may already run an
operator (tests/cluster/conftest.py), and two operators would both act on one run.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testenv import binaries
from testenv.kwok_cluster import KwokCluster
from testenv.processes import wait_for

CHART = Path(__file__).resolve().parents[2] / "charts" / "thyme"
RELEASE, NAMESPACE = "tc", "thyme-chart"
OPERATOR = f"{RELEASE}-thyme-operator"


@pytest.fixture(scope="module")
def chart_cluster(tmp_path_factory) -> Iterator[KwokCluster]:
    cluster = KwokCluster(workdir=tmp_path_factory.mktemp("kwok-chart"))
    try:
        cluster.create(nodes=2)
        yield cluster
    finally:
        cluster.delete()


def helm(cluster: KwokCluster, *args: str) -> str:
    done = subprocess.run([str(binaries.binary("helm")), "--kubeconfig", str(cluster.kubeconfig), *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"helm {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout




def test_rendered_chart_passes_server_side_validation(chart_cluster):
    rendered = helm(chart_cluster, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--include-crds",
                    "--kube-version", _server_version(chart_cluster),
                    "--set", "minio.enabled=true", "--set", "gvisor.createRuntimeClass=true")
    chart_cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    out = chart_cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
    assert "customresourcedefinition.apiextensions.k8s.io/thymeruns.thyme.dev created (server dry run)" in out
    assert f"deployment.apps/{OPERATOR} created (server dry run)" in out


def test_install_then_a_thymerun_goes_through(chart_cluster, tmp_path):
    from thyme_operator import rbac  # noqa: F401 - the chart's RBAC is checked against it in the unit tier

    helm(chart_cluster, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace",
         "--set", "gvisor.createRuntimeClass=true", "--wait", "--timeout", "180s")

    pods = chart_cluster.get_json("pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=operator")["items"]
    assert len(pods) == 1
    assert pods[0]["status"]["phase"] == "Running" and pods[0]["spec"]["nodeName"].startswith("gpu-node-")
    chart_cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/thymeruns.thyme.dev")

    # kwok pods run nothing, so the operator runs here, with the chart ServiceAccount's
    # token: a verb the chart forgot to grant fails this test.
    token = chart_cluster.kubectl("create", "token", OPERATOR, "-n", NAMESPACE, "--duration=1h").strip()
    admin = yaml.safe_load(chart_cluster.kubeconfig.read_text())
    ctx = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    kubeconfig = tmp_path / "operator-kubeconfig.yaml"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "op",
        "clusters": [next(c for c in admin["clusters"] if c["name"] == ctx["cluster"])],
        "users": [{"name": "op", "user": {"token": token}}],
        "contexts": [{"name": "op", "context": {"cluster": ctx["cluster"], "user": "op"}}],
    }))
    op = _start_operator(kubeconfig, tmp_path / "operator.log")
    try:
        run = _small_run("chart-run", "default")
        chart_cluster.kubectl("create", "secret", "generic", "s3-creds", "-n", "default",
                              "--from-literal=AWS_ACCESS_KEY_ID=k", "--from-literal=AWS_SECRET_ACCESS_KEY=s")
        chart_cluster.kubectl("apply", "-f", "-", input=json.dumps(run))

        def phase():
            status = chart_cluster.get_json("thymerun", "chart-run", "-n", "default").get("status", {})
            if op.poll() is not None:
                raise AssertionError(f"operator exited: {(tmp_path / 'operator.log').read_text()[-3000:]}")
            return status if status.get("phase") in ("Succeeded", "Failed") else None

        status = wait_for("the ThymeRun to finish", phase, timeout=120)
        assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
        assert "Forbidden" not in (tmp_path / "operator.log").read_text()
    finally:
        op.terminate()
        op.wait(20)


def _start_operator(kubeconfig: Path, log: Path) -> subprocess.Popen:
    import os
    import sys

    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "thyme_cli.main", "operator"], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "KUBECONFIG": str(kubeconfig)})


def _small_run(name: str, namespace: str) -> dict:
    return {
        "apiVersion": "thyme.dev/v1alpha1", "kind": "ThymeRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "storage": {"endpoint": "minio:9000", "bucket": "thyme", "secretRef": {"name": "s3-creds"}, "secure": False},
            "dataset": {"source": "s3://datasets/Thyme-SFT", "splits": ["2round"]},
            "model": {"base": "s3://models/tiny"},
            "stages": {
                "convert": {"shards": 2, "resources": {"cpu": "1", "memory": "1Gi"}},
                "sft": {"phases": [{"splits": ["2round"]}], "nodes": 1, "gpusPerNode": 2,
                        "resources": {"cpu": "2", "memory": "4Gi"}},
            },
        },
    }


def _server_version(cluster: KwokCluster) -> str:
    """`helm template` renders offline; tell it which Kubernetes it renders for."""
    return json.loads(cluster.kubectl("version", "-o", "json"))["serverVersion"]["gitVersion"]
