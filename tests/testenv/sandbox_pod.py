"""The sandbox service the way its cluster pod runs it, without a cluster.

The operator's sandbox pod runs `thyme sandbox serve --launcher process` under the
gVisor RuntimeClass, as uid 0 of the sandbox kernel holding only the capabilities the
process launcher needs, with a read-only root filesystem and a writable emptyDir on
its state directory. `PodLikeSandbox` starts the same command in a runsc container built the same way
(the OCI spec below mirrors builders/deployment.py's securityContext), sharing the
host's network the way a pod shares its network namespace with whatever else listens
in it, so the test reaches it on 127.0.0.1 and its workers must not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from testenv import processes
from thyme_operator.builders.deployment import SANDBOX_STATE_DIR as STATE_DIR
from thyme_sandbox import launching


def _capabilities() -> dict[str, list[str]]:
    held = list(launching.PROCESS_LAUNCHER_CAPABILITIES)
    return {"bounding": held, "effective": held, "permitted": held, "inheritable": [], "ambient": []}


def pod_spec(argv: list[str], env: dict[str, str], rootfs: Path, ro_binds: list[str]) -> dict:
    """An OCI spec with the sandbox pod's securityContext: root of the gVisor kernel, few capabilities."""
    return {
        "ociVersion": "1.0.0",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": argv,
                    "env": [f"{k}={v}" for k, v in env.items()], "cwd": STATE_DIR,
                    "capabilities": _capabilities(), "noNewPrivileges": True},
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "sandbox-pod",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   # the pod's read-only /tmp volume: without a mount there gVisor adds a writable tmpfs
                   {"destination": "/tmp", "type": "bind", "source": str(rootfs / "tmp"), "options": ["rbind", "ro"]},
                   # an emptyDir: world-writable until the server takes it over
                   {"destination": STATE_DIR, "type": "tmpfs", "source": "tmpfs", "options": ["size=1g", "mode=777"]},
                   *({"destination": p, "type": "bind", "source": p, "options": ["rbind", "ro"]} for p in ro_binds)],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")]},
    }


class PodLikeSandbox:
    """`thyme sandbox serve --launcher process` in a runsc container shaped like the pod."""

    def __init__(self, runsc: Path, workdir: Path, args: list[str], pool_size: int) -> None:
        self.runsc, self.workdir, self.pool_size = str(runsc), workdir, pool_size
        self.port = processes.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = f"thyme-pod-{os.getpid()}-{self.port}"
        self.root = workdir / "runsc-root"
        self.bundle = workdir / "bundle"
        self.rootfs = self.bundle / "rootfs"
        self.args = args
        self.proc: subprocess.Popen | None = None

    def _binds(self) -> list[str]:
        paths = launching.system_binds() + launching.python_paths() + _source_dirs()
        paths += [p for p in os.environ.get("PYTHONPATH", "").split(":") if p and os.path.isdir(p)]
        return sorted(set(paths))

    def start(self, timeout: float = 240.0) -> PodLikeSandbox:
        binds = self._binds()
        for path in ["tmp", "proc", STATE_DIR.lstrip("/"), *(b.lstrip("/") for b in binds)]:
            (self.rootfs / path).mkdir(parents=True, exist_ok=True)
        for link in launching.system_links():
            target = self.rootfs / link.lstrip("/")
            if not target.is_symlink():
                target.symlink_to(os.readlink(link))
        self.root.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "thyme_cli.main", "sandbox", "serve", "--host", "127.0.0.1",
                "--port", str(self.port), "--launcher", "process", "--pool-size", str(self.pool_size), *self.args]
        env = {"PATH": "/usr/bin:/bin", "HOME": STATE_DIR, "LC_ALL": "C.UTF-8", "THYME_SANDBOX_STATE_DIR": STATE_DIR,
               # `thyme` imports every component's CLI: a checkout installed in editable
               # mode (CI) has them only in its source folders, bound above at their paths.
               "PYTHONPATH": ":".join([*_source_dirs(), *filter(None, os.environ.get("PYTHONPATH", "").split(":"))])}
        (self.bundle / "config.json").write_text(json.dumps(pod_spec(argv, env, self.rootfs, binds)))
        self.proc = processes.start(
            [self.runsc, "--root", str(self.root), "--network=host", "--ignore-cgroups", "--platform=ptrace",
             "run", "--bundle", str(self.bundle), self.name], self.workdir / "pod.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sandbox pod exited with {self.proc.returncode}: {self.log()[-3000:]}")
            try:
                ready = httpx.get(self.url + "/readyz", timeout=2)
                if ready.status_code == 200 and ready.json()["idle_workers"] >= self.pool_size:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"sandbox pod not ready with {self.pool_size} workers after {timeout:.0f}s: "
                           f"{self.log()[-3000:]}")

    def exec(self, argv: list[str]) -> None:
        """Run a command in the pod's container as its root (a kubectl exec)."""
        subprocess.run([self.runsc, "--root", str(self.root), "exec", self.name, *argv], check=True,
                       capture_output=True, timeout=60)

    def log(self) -> str:
        path = self.workdir / "pod.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        subprocess.run([self.runsc, "--root", str(self.root), "kill", self.name, "KILL"], capture_output=True)
        if self.proc is not None:
            processes.stop(self.proc, grace=20)
        subprocess.run([self.runsc, "--root", str(self.root), "delete", "--force", self.name], capture_output=True)
        shutil.rmtree(self.bundle, ignore_errors=True)


def _source_dirs() -> list[str]:
    """The folders holding this project's packages (`thyme_cli` and what it imports)."""
    import importlib.util

    dirs = []
    for name in ("thyme_cli", "thyme_jobs", "thyme_operator", "thyme_sandbox", "thyme_tools"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            dirs.append(str(Path(spec.origin).resolve().parent.parent))
    return sorted(set(dirs))
