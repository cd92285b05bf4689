"""A real kubelet node for the test cluster: containerd + runc (and runsc for the
`gvisor` RuntimeClass), CNI bridge networking, kube-proxy in nftables mode and CoreDNS
behind a `kube-dns` Service, all on this machine, all removed again by `stop()`.

Why each piece is the real one: the e2e tier checks that the operator's pods work
(images, commands, Secrets, volumes, Service DNS names, the sandbox under gVisor), so
the node must resolve `minio.<ns>.svc` and reach ClusterIPs exactly as a cluster node
does. kwok nodes stay in the same cluster for the scale tests; this node joins beside
them.

Everything the node creates on the host is named after one random id, so `stop()` (and
the leftover sweep a crashed run's successor does not need) can remove precisely what
this instance made: its processes, mounts, network namespaces, bridge, cgroups and
kube-proxy's nftables tables. Sysctls it changes are put back.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from testenv import binaries, processes

CNI_BIN = Path("/usr/lib/cni")
RUNC = "/usr/sbin/runc"
RUNSC = "/usr/bin/runsc"
DNS_SERVICE_IP = "10.96.0.10"
KUBERNETES_SERVICE_IP = "10.96.0.1"
CGROUP_ROOT = Path("/sys/fs/cgroup")
SYSCTLS = {"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"}


class NodeError(RuntimeError):
    """A node component failed to start; the message carries its log tail."""


def host_ip() -> str:
    """The address of the default route's interface: the node's InternalIP, where the
    API server advertises itself and pods reach the host."""
    out = subprocess.run(["ip", "-j", "route", "get", "1.1.1.1"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]["prefsrc"]


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 under 10.244.0.0/16 that no route on this machine uses yet."""
    routes = json.loads(subprocess.run(["ip", "-j", "route"], capture_output=True, text=True, check=True).stdout)
    used = set()
    for r in routes:
        try:
            used.add(ipaddress.ip_network(r["dst"], strict=False))
        except ValueError:
            continue  # "default"
    for third in random.sample(range(1, 255), 254):
        net = ipaddress.ip_network(f"10.244.{third}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise NodeError("no free /24 under 10.244.0.0/16 for the pod network")


@dataclass
class RealNode:
    """One real node joined to the cluster whose admin kubeconfig is `kubeconfig`."""

    kubeconfig: Path
    workdir: Path
    # The image every pod sandbox runs (tests/env/build-images.sh `pause`): no registry to pull one from.
    pause_image: str
    name: str = "real-node-0"
    # Advertised as an extended resource: GPU pods schedule here and run their CPU paths.
    gpus: int = 2
    # containerd's content and snapshots outlive the session so a warm run imports no
    # image again; the per-run state (sockets, netns, task dirs) stays in `workdir`.
    image_store: Path = field(default_factory=lambda: binaries.CACHE / "containerd")
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    _sysctls_before: dict[str, str] = field(default_factory=dict)
    _started: bool = False

    def __post_init__(self) -> None:
        self.workdir = self.workdir.resolve()
        self.subnet = _free_subnet()
        self.gateway = str(next(self.subnet.hosts()))
        self.bridge = f"thy{self.id}"
        self.cgroup = f"thyme-{self.id}"
        self.node_ip = host_ip()
        self.state = self.workdir / "containerd-state"
        self.socket = self.state / "containerd.sock"
        self.logs = self.workdir / "logs"

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> "RealNode":
        self._started = True
        for d in (self.state, self.logs, self.image_store):
            d.mkdir(parents=True, exist_ok=True)
        self._set_sysctls()
        self._make_bridge()
        self._make_cgroup_root()
        self._start_containerd()
        self.ensure_image(self.pause_image, "pause")
        self._start_kube_proxy()
        self._start_dns()
        self._start_kubelet()
        self._advertise_gpus()
        return self

    def stop(self) -> None:
        """Remove every trace of this node, in the order that lets each layer clean its own:
        pods (so CNI releases their addresses), kubelet, containerd, then a sweep for anything
        a crash left behind."""
        if not self._started:
            return
        self._started = False
        errors: list[str] = []

        def step(what, fn) -> None:
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - every later step must still run
                errors.append(f"{what}: {exc}")

        step("drain pods", self._drain)
        for name in ("kubelet", "kube-proxy", "coredns"):
            if name in self.procs:
                step(f"stop {name}", lambda n=name: processes.stop(self.procs.pop(n)))
        step("remove sandboxes", self._remove_containers)
        if "containerd" in self.procs:
            step("stop containerd", lambda: processes.stop(self.procs.pop("containerd")))
        step("kill leftovers", self._kill_leftovers)
        step("unmount", self._unmount_all)
        step("remove netns", self._remove_netns)
        step("remove bridge", lambda: _run(["ip", "link", "del", self.bridge], check=False))
        step("remove nftables", self._remove_nftables)
        step("remove cgroups", self._remove_cgroups)
        step("restore sysctls", self._restore_sysctls)
        step("remove log links", self._remove_log_links)
        if errors:
            raise NodeError("real node teardown left work undone:\n" + "\n".join(errors))

    def leftovers(self) -> list[str]:
        """What of this node is still on the host (empty after a clean `stop()`)."""
        found = []
        if _run(["ip", "link", "show", self.bridge], check=False).returncode == 0:
            found.append(f"interface {self.bridge}")
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4]
            if point.startswith(str(self.workdir)):
                found.append(f"mount {point}")
        for pid, cmd in _our_processes(str(self.workdir)):
            found.append(f"process {pid} {cmd[:120]}")
        tables = _run(["nft", "list", "tables"], check=False).stdout
        if "kube-proxy" in tables:
            found.append("nftables table kube-proxy")
        for ctrl in _cgroup_controllers():
            if (ctrl / self.cgroup).exists():
                found.append(f"cgroup {ctrl / self.cgroup}")
        return found

    # ---------------------------------------------------------------- host setup

    def _set_sysctls(self) -> None:
        for key, value in SYSCTLS.items():
            path = Path("/proc/sys") / key
            if not path.exists():
                raise NodeError(f"sysctl {key} is missing (br_netfilter not loaded?)")
            self._sysctls_before[key] = path.read_text().strip()
            path.write_text(value)

    def _restore_sysctls(self) -> None:
        for key, value in self._sysctls_before.items():
            (Path("/proc/sys") / key).write_text(value)

    def _make_bridge(self) -> None:
        # Made before any pod so CoreDNS can bind the gateway address; the CNI bridge
        # plugin adopts an existing bridge of that name.
        _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        _run(["ip", "addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])
        conf_dir = self.workdir / "cni" / "net.d"
        conf_dir.mkdir(parents=True, exist_ok=True)
        conflist = {
            "cniVersion": "1.0.0",
            "name": f"thyme-{self.id}",
            "plugins": [
                {
                    "type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                    # A pod reaching itself through its own Service comes back on its own port.
                    "hairpinMode": True,
                    "ipam": {"type": "host-local", "ranges": [[{"subnet": str(self.subnet), "gateway": self.gateway}]],
                             "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(self.workdir / "cni" / "ipam")},
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (conf_dir / "10-thyme.conflist").write_text(json.dumps(conflist, indent=1))

    def _make_cgroup_root(self) -> None:
        """kubelet refuses a cgroup root that does not exist; a private one per node also
        lets the sweep find every container process this node started."""
        for ctrl in _cgroup_controllers():
            path = ctrl / self.cgroup
            path.mkdir(exist_ok=True)
            if ctrl.name == "cpuset":   # an empty cpuset cgroup admits no task
                for f in ("cpuset.cpus", "cpuset.mems"):
                    (path / f).write_text((ctrl / f).read_text())

    # ---------------------------------------------------------------- containerd

    def _containerd_config(self) -> str:
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        runtimes = f'{cri}.containerd.runtimes'
        return f"""version = 2
root = "{self.image_store}"
state = "{self.state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.state}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{self.state}/opt"
[{cri}]
  sandbox_image = "{self.pause_image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  # kubelet asks for -998 for sandboxes; where this process may not lower its OOM score
  # (no CAP_SYS_RESOURCE in this VM's sandbox), runc's nsexec dies with "failed to update
  # /proc/self/oom_score_adj: Permission denied". Clamp to containerd's own score instead.
  restrict_oom_score_adj = true
  enable_selinux = false
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{runtimes}.runc]
      runtime_type = "io.containerd.runc.v2"
      [{runtimes}.runc.options]
        BinaryName = "{RUNC}"
        Root = "{self.state}/runc"
    # The gvisor RuntimeClass: the same shim, with runsc as its OCI runtime.
    [{runtimes}.runsc]
      runtime_type = "io.containerd.runc.v2"
      [{runtimes}.runsc.options]
        BinaryName = "{self._runsc_wrapper()}"
        Root = "{self.state}/runsc"
  [{cri}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{self.workdir / 'cni' / 'net.d'}"
    max_conf_num = 1
"""

    def _runsc_wrapper(self) -> Path:
        """The shim takes one binary path; runsc's platform is a flag. ptrace, named
        explicitly: it works in these VMs, where KVM hangs."""
        path = self.workdir / "runsc-ptrace"
        path.write_text(f'#!/bin/sh\nexec {RUNSC} --platform=ptrace "$@"\n')
        path.chmod(0o755)
        return path

    def _start_containerd(self) -> None:
        config = self.workdir / "containerd.toml"
        config.write_text(self._containerd_config())
        log = self.logs / "containerd.log"
        self.procs["containerd"] = processes.start([shutil.which("containerd") or "containerd", "--config", config], log)
        processes.wait_until(lambda: self.ctr("version").returncode == 0, 60, "containerd", self.procs["containerd"], log)

    def ctr(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return _run(["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args], check=False, timeout=timeout)

    def has_image(self, ref: str) -> bool:
        out = self.ctr("images", "ls", "-q").stdout.split()
        return ref in out

    def ensure_image(self, ref: str, name: str) -> None:
        """Make `ref` present in the node's runtime: already there (warm), or imported from
        the archive `tests/env/build-images.sh` wrote (building it first if need be)."""
        if self.has_image(ref):
            return
        archive = _image_archive(ref, name)
        if not archive.exists():
            done = subprocess.run(["bash", str(_ENV / "build-images.sh"), "--export", name], capture_output=True, text=True)
            if done.returncode != 0:
                raise NodeError(f"building image {name} failed:\n{done.stderr[-4000:]}")
        if not archive.exists():
            raise NodeError(f"build-images.sh {name} wrote no {archive}")
        done = self.ctr("images", "import", str(archive), timeout=1800)
        if done.returncode != 0 or not self.has_image(ref):
            raise NodeError(f"ctr images import {archive} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        # Imported: the runtime's store is now the cache; the archive would double the disk.
        archive.unlink()

    def kill_container(self, container_id: str, sig: int = signal.SIGKILL) -> int:
        """Signal a container's main process from the host, as a crash or the OOM killer
        would (a pod delete is polite: it lets the program save first). Returns its pid."""
        for line in self.ctr("tasks", "ls").stdout.splitlines()[1:]:
            task, pid, *_ = line.split()
            if task == container_id:
                os.kill(int(pid), sig)
                return int(pid)
        raise NodeError(f"no running task for container {container_id}")

    # ---------------------------------------------------------------- kube-proxy, DNS

    def _start_kube_proxy(self) -> None:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "mode": "nftables",
            "clientConnection": {"kubeconfig": str(self.kubeconfig)},
            "hostnameOverride": self.name,
            "clusterCIDR": str(self.subnet),
            "healthzBindAddress": f"127.0.0.1:{processes.free_port()}",
            "metricsBindAddress": f"127.0.0.1:{processes.free_port()}",
            # Zero leaves the host's conntrack sysctls as they are.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }
        path = self.workdir / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        log = self.logs / "kube-proxy.log"
        self.procs["kube-proxy"] = processes.start([binaries.binary("kube-proxy"), "--config", path], log)
        processes.wait_until(lambda: "kube-proxy" in _run(["nft", "list", "tables"], check=False).stdout,
                             60, "kube-proxy's nftables table", self.procs["kube-proxy"], log)

    def _start_dns(self) -> None:
        """CoreDNS on the host, bound to the pod network's gateway, behind the selector-less
        `kube-system/kube-dns` Service at the address kubelet writes into every pod's
        resolv.conf: pods reach it through kube-proxy, as on any cluster."""
        corefile = self.workdir / "Corefile"
        corefile.write_text(f""".:53 {{
    bind {self.gateway}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {self.kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
""")
        log = self.logs / "coredns.log"
        self.procs["coredns"] = processes.start([binaries.binary("coredns"), "-conf", corefile], log)
        docs = [
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
             "spec": {"clusterIP": DNS_SERVICE_IP, "ports": [
                 {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                 {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}},
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": {"name": "kube-dns-host", "namespace": "kube-system",
                          "labels": {"kubernetes.io/service-name": "kube-dns",
                                     "endpointslice.kubernetes.io/managed-by": "thyme-tests"}},
             "addressType": "IPv4",
             "endpoints": [{"addresses": [self.gateway], "conditions": {"ready": True}}],
             "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]},
        ]
        self.kubectl("apply", "-f", "-", input="\n---\n".join(yaml.safe_dump(d) for d in docs))
        processes.wait_until(lambda: _dig(self.gateway, "kubernetes.default.svc.cluster.local") == KUBERNETES_SERVICE_IP,
                             60, "CoreDNS answering for kubernetes.default", self.procs["coredns"], log)

    # ---------------------------------------------------------------- kubelet

    def _start_kubelet(self) -> None:
        root = self.workdir / "kubelet"
        root.mkdir(exist_ok=True)
        self.kubelet_port = processes.free_port()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            # These machines mount cgroup v1; kubelet 1.36 refuses it unless told otherwise.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{self.cgroup}",
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "address": self.node_ip,
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": processes.free_port(),
            # The API server reaches kubelet (logs, exec) with no client certificate here.
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "clusterDNS": [DNS_SERVICE_IP],
            "clusterDomain": "cluster.local",
            "resolvConf": "",
            "podCIDR": str(self.subnet),
            "maxPods": 40,
            "failSwapOn": False,
            "podLogsDir": str(self.workdir / "pod-logs"),
            "volumePluginDir": str(self.workdir / "volume-plugins"),
            # Our images are imported, not pulled: never garbage-collect them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            # The shared disk is a busy one; evict nothing for space on a test node.
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            "serializeImagePulls": False,
            "syncFrequency": "5s",
            "nodeStatusUpdateFrequency": "5s",
            "shutdownGracePeriod": "0s",
            "containerLogMaxSize": "50Mi",
            "registerNode": True,
        }
        path = self.workdir / "kubelet.yaml"
        path.write_text(yaml.safe_dump(config))
        log = self.logs / "kubelet.log"
        self.procs["kubelet"] = processes.start([
            binaries.binary("kubelet"), "--config", path, "--kubeconfig", self.kubeconfig,
            "--root-dir", root, "--cert-dir", self.workdir / "kubelet-pki",
            "--hostname-override", self.name, "--node-ip", self.node_ip,
            "--node-labels", "thyme.test/real-node=true", "--v", "2",
        ], log)
        processes.wait_until(self._ready, 180, f"node {self.name} Ready", self.procs["kubelet"], log)

    def _ready(self) -> bool:
        node = json.loads(self.kubectl("get", "node", self.name, "-o", "json", check=False) or "{}")
        conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        return conds.get("Ready") == "True"

    def _advertise_gpus(self) -> None:
        """Kubernetes' documented way to advertise an extended resource: patch the node's
        status capacity; kubelet carries it into allocatable and keeps it."""
        patch = [{"op": "add", "path": "/status/capacity/nvidia.com~1gpu", "value": str(self.gpus)}]
        self.kubectl("patch", "node", self.name, "--subresource=status", "--type=json", "-p", json.dumps(patch))
        processes.wait_until(
            lambda: json.loads(self.kubectl("get", "node", self.name, "-o", "json"))["status"]
            .get("allocatable", {}).get("nvidia.com/gpu") == str(self.gpus),
            60, "nvidia.com/gpu in the node's allocatable", self.procs["kubelet"], self.logs / "kubelet.log")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120) -> str:
        done = _run([str(binaries.binary("kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
                    input=input, check=False, timeout=timeout)
        if check and done.returncode != 0:
            raise NodeError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done.stdout

    # ---------------------------------------------------------------- teardown

    def _drain(self) -> None:
        """Delete this node's pods through the API and wait for kubelet to tear their
        sandboxes down (CNI DEL frees each address and veth)."""
        if "kubelet" not in self.procs or self.procs["kubelet"].poll() is not None:
            return
        self.kubectl("delete", "pods", "--all-namespaces", "--field-selector", f"spec.nodeName={self.name}",
                     "--grace-period=1", "--wait=false", check=False)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if not self.ctr("tasks", "ls", "-q").stdout.split():
                return
            time.sleep(1)

    def _remove_containers(self) -> None:
        """Whatever kubelet did not remove: kill its tasks and delete the containers, so
        their rootfs mounts go away with containerd's own bookkeeping."""
        if "containerd" not in self.procs:
            return
        for task in self.ctr("tasks", "ls", "-q").stdout.split():
            self.ctr("tasks", "kill", "-s", "SIGKILL", task)
        time.sleep(1)
        for task in self.ctr("tasks", "ls", "-q").stdout.split():
            self.ctr("tasks", "rm", "-f", task)
        for c in self.ctr("containers", "ls", "-q").stdout.split():
            self.ctr("containers", "rm", c)

    def _kill_leftovers(self) -> None:
        # Container processes live in our cgroup tree; shims name our state directory.
        for ctrl in _cgroup_controllers():
            base = ctrl / self.cgroup
            if not base.exists():
                continue
            for procs in base.rglob("cgroup.procs"):
                for pid in procs.read_text().split():
                    _kill(int(pid))
        for pid, _ in _our_processes(str(self.workdir)):
            _kill(pid)
        time.sleep(0.5)

    def _unmount_all(self) -> None:
        roots = (str(self.workdir), str(self.image_store))
        points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for point in sorted({p for p in points if p.startswith(roots)}, key=len, reverse=True):
            _run(["umount", "-l", point], check=False)

    def _remove_netns(self) -> None:
        netns = self.state / "netns"
        for f in netns.glob("*") if netns.is_dir() else []:
            _run(["umount", "-l", str(f)], check=False)
            f.unlink(missing_ok=True)

    def _remove_nftables(self) -> None:
        for family in ("ip", "ip6"):
            _run(["nft", "delete", "table", family, "kube-proxy"], check=False)

    def _remove_cgroups(self) -> None:
        for ctrl in _cgroup_controllers():
            base = ctrl / self.cgroup
            if not base.exists():
                continue
            dirs = sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
            for d in [*dirs, base]:
                for _ in range(20):
                    try:
                        d.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.1)

    def _remove_log_links(self) -> None:
        """kubelet links each container's log into /var/log/containers; drop links into ours."""
        ours = str(self.workdir)
        links = Path("/var/log/containers")
        for link in links.glob("*.log") if links.is_dir() else []:
            try:
                if os.readlink(link).startswith(ours):
                    link.unlink()
            except OSError:
                continue


_ENV = Path(__file__).resolve().parents[1] / "env"


def _image_archive(ref: str, name: str) -> Path:
    tag = ref.rsplit(":", 1)[1]
    return binaries.CACHE / "images" / f"{name}-{tag}.tar"


def _cgroup_controllers() -> list[Path]:
    """Every mounted cgroup v1 hierarchy (cpu, memory, pids, ..., name=systemd), and the
    hybrid layout's cgroup2 `unified` mount, where runc makes a cgroup per container too."""
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        dev, point, fstype = line.split()[:3]
        if fstype in ("cgroup", "cgroup2") and point.startswith(str(CGROUP_ROOT) + "/"):
            out.append(Path(point))
    return out


def _our_processes(needle: str) -> list[tuple[int, str]]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd:
            found.append((int(pid), cmd))
    return found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _run(argv: list[str], check: bool = True, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
    if check and done.returncode != 0:
        raise NodeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done


def _dig(server: str, name: str) -> str | None:
    """One A lookup against `server` with the standard library (no dig on these machines)."""
    import socket
    import struct

    query = struct.pack(">HHHHHH", 0x7A3E, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(query, (server, 53))
        data = s.recv(512)
    if struct.unpack(">H", data[6:8])[0] == 0:
        return None
    return socket.inet_ntoa(data[-4:])
