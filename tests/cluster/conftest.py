"""Fixtures for the operator's cluster tests: the generated CRD installed in the real
API server, the operator's ServiceAccount bound to exactly the rules in
`thyme_operator.rbac`, and the real operator (`thyme operator`, kopf underneath) as a
subprocess that authenticates with that ServiceAccount's token, so a missing verb
breaks the tests instead of hiding behind admin credentials.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from testenv.processes import free_port, wait_for
from thyme_operator import crd, rbac

OPERATOR_NAMESPACE = "thyme-system"
OPERATOR_SA = "thyme-operator"
SA_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SA}"




@dataclass
class OperatorProcess:
    """`thyme operator` in a subprocess; can be killed hard and started again."""

    kubeconfig: Path
    log_dir: Path
    proc: subprocess.Popen | None = None
    metrics_port: int = 0
    starts: int = 0
    logs: list[Path] = field(default_factory=list)

    def start(self) -> "OperatorProcess":
        self.starts += 1
        self.metrics_port = free_port()
        liveness = free_port()
        log = self.log_dir / f"operator-{self.starts}.log"
        self.logs.append(log)
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        with log.open("w") as out:      # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "thyme_cli.main", "operator", "--metrics-port", str(self.metrics_port),
                 "--liveness", f"http://127.0.0.1:{liveness}/healthz"],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)

        def alive() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"operator exited with {self.proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{liveness}/healthz", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for("the operator's liveness endpoint", alive, timeout=60)
        return self

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, exactly like a crashed or evicted pod."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def output(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in self.logs if p.exists())


@pytest.fixture(scope="session")
def thyme_crd(kwok_cluster):
    kwok_cluster.kubectl("apply", "--server-side", "-f", "-", input=crd.render())
    kwok_cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/thymeruns.thyme.dev")
    # The CRD's discovery must have reached the API server's handlers before use.
    wait_for("thymeruns in discovery", lambda: "thymeruns" in kwok_cluster.kubectl("api-resources", "--api-group=thyme.dev"))
    return kwok_cluster


@pytest.fixture(scope="session")
def gvisor_runtime_class(kwok_cluster):
    """kwok nodes have no runsc; to the scheduler a RuntimeClass is only a name."""
    kwok_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(
        {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "gvisor"}, "handler": "runsc"}))


@pytest.fixture(scope="session")
def operator_kubeconfig(thyme_crd, tmp_path_factory) -> Path:
    """A kubeconfig holding a token of the operator's ServiceAccount, bound to rbac.RULES only."""
    cluster = thyme_crd
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": OPERATOR_SA, "namespace": OPERATOR_NAMESPACE}},
        rbac.cluster_role(),
        rbac.cluster_role_binding(OPERATOR_SA, OPERATOR_NAMESPACE),
    ]
    cluster.kubectl("apply", "-f", "-", input="\n---\n".join(yaml.safe_dump(d) for d in docs))
    token = cluster.kubectl("create", "token", OPERATOR_SA, "-n", OPERATOR_NAMESPACE, "--duration=4h").strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    ctx_name = admin["current-context"]
    ctx = next(c for c in admin["contexts"] if c["name"] == ctx_name)["context"]
    server = next(c for c in admin["clusters"] if c["name"] == ctx["cluster"])
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [server],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": ctx["cluster"], "user": "operator"}}],
    }
    path = tmp_path_factory.mktemp("operator") / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def thyme_operator(operator_kubeconfig, gvisor_runtime_class, tmp_path_factory) -> Iterator[OperatorProcess]:
    op = OperatorProcess(kubeconfig=operator_kubeconfig, log_dir=tmp_path_factory.mktemp("operator-logs")).start()
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture
def namespace(thyme_crd) -> Iterator[str]:
    """A fresh namespace with the S3 credentials Secret the runs reference."""
    cluster = thyme_crd
    name = "t-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("create", "secret", "generic", "s3-creds", "-n", name,
                    "--from-literal=AWS_ACCESS_KEY_ID=test", "--from-literal=AWS_SECRET_ACCESS_KEY=test-secret")
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def run_manifest(name: str, namespace: str, **spec_overrides) -> dict:
    """A small, valid ThymeRun whose pods fit the two 8-GPU kwok nodes."""
    spec = {
        "storage": {"endpoint": "127.0.0.1:9000", "bucket": "thyme", "secretRef": {"name": "s3-creds"}, "secure": False},
        "dataset": {"source": "s3://datasets/Thyme-SFT", "splits": ["general", "math"]},
        "model": {"base": "s3://models/tiny-qwen"},
        "stages": {
            "convert": {"shards": 2, "resources": {"cpu": "1", "memory": "1Gi"},
                        "retries": {"limit": 1, "backoffSeconds": 1}},
            "sft": {"phases": [{"splits": ["general"]}], "nodes": 2, "gpusPerNode": 2,
                    "resources": {"cpu": "2", "memory": "4Gi"}, "retries": {"limit": 1, "backoffSeconds": 1}},
            "rl": {"splits": ["math"], "judge": {"model": "s3://models/judge"}, "gpus": 2, "steps": 5,
                   "resources": {"cpu": "2", "memory": "4Gi"}, "sandbox": {"replicas": 1},
                   "retries": {"limit": 1, "backoffSeconds": 1}},
        },
    }
    for key, value in spec_overrides.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return {"apiVersion": "thyme.dev/v1alpha1", "kind": "ThymeRun",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def apply(cluster, obj: dict) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))


def get_run(cluster, namespace: str, name: str) -> dict:
    return cluster.get_json("thymerun", name, "-n", namespace)


def wait_phase(cluster, namespace: str, name: str, phase: str, timeout: float = 90, op: OperatorProcess | None = None) -> dict:
    def probe():
        run = get_run(cluster, namespace, name)
        return run if run.get("status", {}).get("phase") == phase else None
    try:
        return wait_for(f"ThymeRun {namespace}/{name} phase {phase}", probe, timeout=timeout)
    except AssertionError as exc:
        status = get_run(cluster, namespace, name).get("status")
        extra = f"\noperator log tail:\n{op.output()[-3000:]}" if op else ""
        raise AssertionError(f"{exc}\nstatus: {json.dumps(status, indent=1)}{extra}") from None


def children(cluster, namespace: str, run: str, kinds: str = "jobs,services,deployments,networkpolicies",
             probe: bool = False) -> list[dict]:
    """The run's stage children; the manifest probe Job only with `probe=True`
    (test_thymerun_manifest_probe.py is about it; the other tests count stage work)."""
    selector = f"thyme.dev/run={run}" + ("" if probe else ",thyme.dev/component!=manifest-probe")
    return cluster.get_json(kinds, "-n", namespace, "-l", selector)["items"]


def job_names(cluster, namespace: str, run: str) -> list[str]:
    return sorted(j["metadata"]["name"] for j in children(cluster, namespace, run, "jobs"))


class ThymeHelpers:
    """The helpers above as a fixture: tests cannot import this conftest by name."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.run_manifest = run_manifest
        self.wait_for = wait_for

    def apply(self, obj: dict) -> None:
        apply(self.cluster, obj)

    def get_run(self, namespace: str, name: str) -> dict:
        return get_run(self.cluster, namespace, name)

    def wait_phase(self, namespace: str, name: str, phase: str, timeout: float = 90, op=None) -> dict:
        return wait_phase(self.cluster, namespace, name, phase, timeout, op)

    def children(self, namespace: str, run: str, kinds: str = "jobs,services,deployments,networkpolicies",
                 probe: bool = False) -> list[dict]:
        return children(self.cluster, namespace, run, kinds, probe)

    def job_names(self, namespace: str, run: str) -> list[str]:
        return job_names(self.cluster, namespace, run)

    def patch_spec(self, namespace: str, name: str, spec: dict) -> None:
        self.cluster.kubectl("patch", "thymerun", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}))


@pytest.fixture
def thyme(thyme_crd) -> ThymeHelpers:
    return ThymeHelpers(thyme_crd)
