"""A real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
with kwok-simulated nodes, started by `kwokctl --runtime binary` from self-built binaries.

Nodes advertise `nvidia.com/gpu` so GPU workloads schedule; pods move through the
stages in `tests/env/kwok/stages.yaml` (Job pods succeed; a `thyme.test/fail: "true"`
label makes one fail).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from testenv import binaries, processes

STAGES = Path(__file__).resolve().parents[1] / "env" / "kwok" / "stages.yaml"
FAIL_LABEL = "thyme.test/fail"
RUN_MS_ANNOTATION = "thyme.test/run-ms"
EXIT_CODE_ANNOTATION = "thyme.test/exit-code"   # a failing pod's exit code (kwok stage thyme-pod-fail)
MESSAGE_ANNOTATION = "thyme.test/message"       # and its termination message


def gpu_node(name: str, gpus: int = 8, cpu: str = "96", memory: str = "1Ti", pods: int = 110) -> dict:
    """A Node object that kwok manages, shaped like an 8-GPU training machine."""
    capacity = {"cpu": cpu, "memory": memory, "pods": str(pods), "nvidia.com/gpu": str(gpus),
                "ephemeral-storage": "2Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64", "type": "kwok", "nvidia.com/gpu.present": "true"},
        },
        "spec": {},
        "status": {"capacity": capacity, "allocatable": capacity},
    }


@dataclass
class KwokCluster:
    workdir: Path
    name: str = field(default_factory=lambda: "thyme-" + uuid.uuid4().hex[:8])
    created: bool = False
    # Set when a real kubelet node joins (testenv.real_node): kwok must then leave every
    # node without the fake-node annotation alone (kwokctl's default manages all nodes,
    # and would fake the real node's pods), and the API server's certificate must name
    # the `kubernetes` Service's ClusterIP, where pods reach it.
    real_nodes: bool = False
    cert_sans: list[str] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "clusters" / self.name / "kubeconfig.yaml"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KWOK_WORKDIR": str(self.workdir),
            "KWOK_KUBECTL_BINARY": str(binaries.binary("kubectl")),
        }

    def kwokctl(self, *args: str, timeout: float = 300) -> str:
        argv = [str(binaries.binary("kwokctl")), "--name", self.name, *self._config_args(), *args]
        done = subprocess.run(argv, env=self._env(), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"kwokctl {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return done.stdout

    def _config_args(self) -> list[str]:
        if not (self.cert_sans or self.real_nodes):
            return []
        config: dict = {"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokctlConfiguration",
                        "options": {"kubeApiserverCertSANs": self.cert_sans}}
        if self.real_nodes:
            # `kubectl logs`/`exec` go through the API server to kubelet at the node's
            # address; its name resolves nowhere on this machine.
            config["componentsPatches"] = [{"name": "kube-apiserver", "extraArgs": [
                {"key": "kubelet-preferred-address-types", "value": "InternalIP"}]}]
        path = self.workdir / "kwokctl-config.yaml"
        path.write_text(yaml.safe_dump(config))
        return ["--config", str(path)]

    def create(self, nodes: int = 2) -> "KwokCluster":
        self.workdir.mkdir(parents=True, exist_ok=True)
        # On 2 loaded cores the apiserver can miss kwokctl's start deadline; one fresh
        # try (new name, new ports) absorbs that without hiding a real breakage.
        for attempt in (1, 2):
            self.created = True
            try:
                self._create_control_plane()
                break
            except RuntimeError as exc:
                failure = f"{exc}\n{self.component_logs()}"
                try:
                    self.delete()
                except RuntimeError:
                    pass  # the processes are killed regardless; the create error is the news
                if attempt == 2:
                    raise RuntimeError(failure) from None
                self.name = "thyme-" + uuid.uuid4().hex[:8]
        self.kubectl("apply", "-f", str(STAGES))
        if nodes:
            self.add_nodes([f"gpu-node-{i}" for i in range(nodes)])
        return self

    def component_logs(self, lines: int = 15) -> str:
        """The tail of each control-plane component's log: why a start failed."""
        logs = self.workdir / "clusters" / self.name / "logs"
        out = []
        for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
            out.append(f"--- {log.name}\n{processes.tail(log, lines)}")
        return "\n".join(out) or f"(no component logs under {logs})"

    def _create_control_plane(self) -> None:
        self.kwokctl(
            "create", "cluster", "--runtime", "binary",
            "--kube-apiserver-binary", str(binaries.binary("kube-apiserver")),
            "--kube-controller-manager-binary", str(binaries.binary("kube-controller-manager")),
            "--kube-scheduler-binary", str(binaries.binary("kube-scheduler")),
            "--kwok-controller-binary", str(binaries.binary("kwok")),
            "--etcd-binary", str(binaries.binary("etcd")),
            "--enable-crds", "Stage",
            # kube-apiserver's default Service range is a /24 (254 addresses): the
            # operator benchmark's 200 runs need two ClusterIP Services each.
            "--extra-args", "kube-apiserver=service-cluster-ip-range=10.96.0.0/16",
            *(["--extra-args", "kwok-controller=manage-all-nodes=false",
                "--extra-args", "kwok-controller=manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake"]
              if self.real_nodes else []),
            "--kubeconfig", str(self.workdir / "unused-kubeconfig"),
            "--wait", "120s", "--timeout", "240s",
        )

    def add_nodes(self, names: list[str], **shape) -> None:
        docs = "\n---\n".join(yaml.safe_dump(gpu_node(n, **shape)) for n in names)
        self.kubectl("apply", "-f", "-", input=docs)
        self.kubectl("wait", "--for=condition=Ready", "--timeout=120s", *[f"node/{n}" for n in names])

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 180, check: bool = True) -> str:
        argv = [str(binaries.binary("kubectl")), "--kubeconfig", str(self.kubeconfig), *args]
        done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return done.stdout

    def get_json(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", "-o", "json", *args))

    def delete(self) -> None:
        """Tear the cluster down; kill anything of ours that kwokctl left behind."""
        if not self.created:
            return
        try:
            self.kwokctl("delete", "cluster", timeout=120)
        finally:
            self.created = False
            _kill_leftovers(self.workdir)


def _kill_leftovers(workdir: Path) -> None:
    """Processes whose command line names our workdir are ours; none may outlive us."""
    needle = str(workdir)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
