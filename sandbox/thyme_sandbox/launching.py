"""Starting and stopping one worker process: under runsc locally, plain inside a gVisor pod.

Two launchers behind one small interface, picked by name (`launcher_for`):

- `runsc`: each worker is its own gVisor sandbox started with `runsc run` from an OCI
  bundle. `runsc do` was the other candidate, but it exposes the whole host read-only
  and has no way to add a writable mount; a bundle lets the root be an empty directory
  with only the Python runtime, system libraries and this package bound in read-only,
  the session's output directory bound writable, the input image read-only, no network,
  no capabilities and an unprivileged uid. Cold start is measured in
  tests/bench/bench_sandbox.py; the warm pool hides it.
- `process`: in a cluster the sandbox pod itself runs under the `gvisor` RuntimeClass
  and cannot nest runsc, so a worker is a plain child process that switches to a uid
  of its own, enters its own user and network namespaces and applies the same rlimits
  to itself (see `ProcessLauncher`).

Either way the worker is killed from outside for wall time; its own rlimits cover CPU,
memory, processes, file size and open files.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thyme_sandbox import framing
from thyme_sandbox.errors import WorkerFailed

SANDBOX_INPUT = "/sandbox/input"
SANDBOX_OUT = "/sandbox/out"
# The unprivileged uid workers run as: nobody, which owns nothing on the host.
WORKER_UID = 65534
WORKER_ENV = {
    "PATH": "/usr/bin:/bin",
    "LC_ALL": "C.UTF-8",
    # One thread each: RLIMIT_NPROC counts threads, and 32 sessions share 2 cores.
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "MPLCONFIGDIR": SANDBOX_OUT,
}


@dataclass(frozen=True)
class Limits:
    """Per-worker limits. Wall time is per call and enforced by the pool, not here."""

    memory_bytes: int = 1 << 30
    cpu_seconds: int = 120
    processes: int = 16
    file_bytes: int = 64 << 20
    open_files: int = 256


@dataclass
class WorkerDirs:
    """Host directories of one worker: the input image (read-only inside) and the output."""

    root: Path
    input: Path = field(init=False)
    out: Path = field(init=False)

    def __post_init__(self) -> None:
        self.input, self.out = self.root / "input", self.root / "out"


def python_paths() -> list[str]:
    """Host directories the worker's Python needs: the interpreter, the venv, this package."""
    package_parent = str(Path(__file__).resolve().parent.parent)
    paths = {sys.base_prefix, sys.prefix, package_parent}
    return sorted(p for p in paths if p and p != "/")


def oci_spec(argv: list[str], env: dict[str, str], dirs: WorkerDirs, rootfs: Path, ro_binds: list[str]) -> dict:
    """The OCI runtime spec of one worker sandbox. Pure: paths in, a dict out."""
    binds = [{"destination": p, "type": "bind", "source": p, "options": ["rbind", "ro"]} for p in ro_binds]
    return {
        "ociVersion": "1.0.0",
        "process": {
            "terminal": False,
            "user": {"uid": WORKER_UID, "gid": WORKER_UID},
            "args": argv,
            "env": [f"{k}={v}" for k, v in env.items()],
            "cwd": SANDBOX_OUT,
            "capabilities": {k: [] for k in ("bounding", "effective", "permitted", "inheritable", "ambient")},
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "sandbox",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            # An empty read-only /tmp: otherwise gVisor adds a writable tmpfs there.
            {"destination": "/tmp", "type": "bind", "source": str(rootfs / "tmp"), "options": ["rbind", "ro"]},
            *binds,
            {"destination": SANDBOX_INPUT, "type": "bind", "source": str(dirs.input), "options": ["rbind", "ro"]},
            {"destination": SANDBOX_OUT, "type": "bind", "source": str(dirs.out), "options": ["rbind", "rw"]},
        ],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]},
    }


SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")


def system_binds() -> list[str]:
    """System directories the interpreter and its libraries load from, bound read-only."""
    return [p for p in SYSTEM_DIRS if os.path.isdir(p) and not os.path.islink(p)]


def system_links() -> list[str]:
    """System directories that are symlinks on this host (merged /usr); recreated as links."""
    return [p for p in SYSTEM_DIRS if os.path.islink(p)]


def worker_config(limits: Limits, stdout_limit: int, uid: int | None = None) -> str:
    """The worker's settings; with `uid`, the worker switches to it and isolates itself first."""
    return json.dumps({"limits": limits.__dict__, "stdout_limit": stdout_limit, "uid": uid})


class WorkerProcess:
    """One live worker and its channel. Async; one request at a time (the pool ensures it)."""

    def __init__(self, proc: asyncio.subprocess.Process, dirs: WorkerDirs, name: str,
                 cleanup: list[list[str]], inside_input: str, inside_out: str) -> None:
        self.proc, self.dirs, self.name, self._cleanup = proc, dirs, name, cleanup
        # Where the worker sees its input and output directories.
        self.inside_input, self.inside_out = inside_input, inside_out
        self.pid: int | None = None

    def host_path(self, inside: str) -> Path | None:
        """The host file behind a path as the worker sees it; None outside its two dirs."""
        for seen, host in ((self.inside_out, self.dirs.out), (self.inside_input, self.dirs.input)):
            prefix = seen.rstrip("/") + "/"
            if inside.startswith(prefix):
                rel = os.path.normpath(inside[len(prefix):])
                return None if rel.startswith("..") else host / rel
        return None

    async def wait_ready(self, timeout: float) -> None:
        header, _ = await self.request(None, timeout)
        if not header.get("ready"):
            raise WorkerFailed(f"worker {self.name} sent {header!r} instead of ready")
        self.pid = header.get("pid")

    async def request(self, header: dict[str, Any] | None, timeout: float) -> tuple[dict[str, Any], list[bytes]]:
        """Send one frame (or none) and read one reply; TimeoutError after `timeout` seconds."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if header is not None:
            try:
                self.proc.stdin.write(framing.encode(header))
                await self.proc.stdin.drain()
            except (ConnectionError, BrokenPipeError) as exc:
                raise WorkerFailed(f"worker {self.name} closed its channel: {exc}") from None
        return await asyncio.wait_for(self._read_frame(), timeout)

    async def _read_frame(self) -> tuple[dict[str, Any], list[bytes]]:
        reader = self.proc.stdout
        assert reader is not None
        try:
            length = framing.header_length(await reader.readexactly(4))
            header = framing.decode_header(await reader.readexactly(length))
            blobs = [await reader.readexactly(n) for n in header.get("blobs", [])]
        except asyncio.IncompleteReadError:
            raise WorkerFailed(f"worker {self.name} closed its channel") from None
        except framing.FrameError as exc:
            raise WorkerFailed(f"worker {self.name} sent a broken frame: {exc}") from None
        return header, blobs

    async def exit_code(self, timeout: float = 1.0) -> int | None:
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            return None

    def signal_kill(self) -> None:
        """SIGKILL the whole process group: runsc, and with it the sandbox it started."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    async def kill(self) -> None:
        """Kill, then remove the runsc container state and the scratch directories."""
        self.signal_kill()
        await self.proc.wait()
        for argv in self._cleanup:
            done = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)
            await done.wait()
        shutil.rmtree(self.dirs.root, ignore_errors=True)


# Bind mounts are "shared" by default: gVisor revalidates every file against the host
# on each access. Nothing outside the sandbox changes a worker's directories while it
# runs, so "exclusive" lets the sentry cache them (measured: the 2000 px crop's
# overhead over in-process went from ~1.6x to the figure in the sandbox benchmark).
EXTRA_RUNSC_FLAGS = ("--file-access-mounts=exclusive",)


class RunscLauncher:
    """Starts each worker as its own gVisor sandbox (`runsc run` with an OCI bundle)."""

    name = "runsc"

    def __init__(self, runsc: str, state_dir: Path, limits: Limits, stdout_limit: int,
                 platform: str = "ptrace") -> None:
        self.runsc, self.state_dir, self.limits, self.stdout_limit = runsc, state_dir, limits, stdout_limit
        self.platform = platform
        self.extra_flags: list[str] = list(EXTRA_RUNSC_FLAGS)
        self.rootfs = state_dir / "rootfs"
        self.binds = system_binds() + python_paths()
        for path in ["tmp", "proc", "sandbox/input", "sandbox/out", *(b.lstrip("/") for b in self.binds)]:
            (self.rootfs / path).mkdir(parents=True, exist_ok=True)
        for link in system_links():  # merged-/usr systems: /lib -> usr/lib and friends
            if not (self.rootfs / link.lstrip("/")).is_symlink():
                (self.rootfs / link.lstrip("/")).symlink_to(os.readlink(link))
        (state_dir / "runsc").mkdir(exist_ok=True)
        self.counter = 0

    async def start(self) -> WorkerProcess:
        self.counter += 1
        name = f"thyme-{os.getpid()}-{self.counter}"
        dirs = WorkerDirs(self.state_dir / "workers" / name)
        for path in (dirs.input, dirs.out):
            path.mkdir(parents=True)
        os.chown(dirs.out, WORKER_UID, WORKER_UID)
        bundle = dirs.root / "bundle"
        bundle.mkdir()
        argv = [sys.executable, "-u", str(Path(__file__).with_name("worker.py"))]
        env = {**WORKER_ENV, "THYME_WORKER_CONFIG": worker_config(self.limits, self.stdout_limit)}
        spec = oci_spec(argv, env, dirs, self.rootfs, self.binds)
        (bundle / "config.json").write_text(json.dumps(spec))
        base = [self.runsc, "--root", str(self.state_dir / "runsc")]
        log = open(dirs.root / "runsc.log", "wb")
        proc = await asyncio.create_subprocess_exec(
            *base, "--network=none", "--ignore-cgroups", f"--platform={self.platform}", *self.extra_flags,
            "run", "--bundle", str(bundle), name,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
            start_new_session=True, limit=1 << 20,
        )
        log.close()
        return WorkerProcess(proc, dirs, name, cleanup=[[*base, "delete", "--force", name]],
                             inside_input=SANDBOX_INPUT, inside_out=SANDBOX_OUT)


# Each process-launcher worker gets uid/gid FIRST_WORKER_UID + slot: its files, its
# processes and its /proc entries are then another user's to every other session and
# to the server (uid 0 inside the gVisor pod), which is what keeps one trajectory from
# reading or rewriting another's images, signalling the server or reading its /proc.
FIRST_WORKER_UID = 20000
# What the server needs, and the pod grants, to run workers under their own uids:
# set their uids, hand them their directories, signal them, and clean up after them.
PROCESS_LAUNCHER_CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE",
                                 "CAP_FOWNER")
# Takes the worker's uid, then execs the worker: the exec, not a setuid in the worker
# itself, is what leaves the new process its own /proc/self (after a uid change a
# process is non-dumpable and /proc/self is root's), where it writes its namespace maps.
_BECOME_UID = ("import os, sys\n"
               "uid = int(sys.argv[1])\n"
               "os.setgroups([]); os.setresgid(uid, uid, uid); os.setresuid(uid, uid, uid)\n"
               "os.execv(sys.argv[2], sys.argv[2:])\n")
# Kills every process of one uid (the worker and whatever it left behind, setsid or
# not): a process of that uid may signal exactly its own uid's processes, so
# kill(-1) from it reaches those and nothing else.
_REAP_UID = ("import os, signal, sys\n"
             "uid = int(sys.argv[1])\n"
             "os.setgroups([]); os.setresgid(uid, uid, uid); os.setresuid(uid, uid, uid)\n"
             "for _ in range(3):  # a process forking as it dies is caught by the next pass\n"
             "    try:\n        os.kill(-1, signal.SIGKILL)\n    except ProcessLookupError:\n        break\n")


class UidSlots:
    """The worker uids in use; a uid is reused only after all its processes are dead."""

    def __init__(self, count: int) -> None:
        self.count, self.free = count, list(range(count))

    def take(self) -> int:
        if not self.free:
            raise WorkerFailed(f"all {self.count} worker uids from {FIRST_WORKER_UID} are in use")
        return FIRST_WORKER_UID + self.free.pop(0)

    def give_back(self, uid: int) -> None:
        self.free.append(uid - FIRST_WORKER_UID)
        self.free.sort()


def can_switch_uids() -> bool:
    """Whether this process may start workers under other uids: CAP_SETUID and CAP_SETGID held."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("CapEff:"))
    except (OSError, StopIteration):
        return os.geteuid() == 0
    setgid_setuid = (1 << 6) | (1 << 7)
    return int(line.split()[1], 16) & setgid_setuid == setgid_setuid


class ProcessWorker(WorkerProcess):
    """A process-launcher worker: killed with everything its uid runs, then its uid is freed."""

    def __init__(self, *args: Any, uid: int, slots: UidSlots, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uid, self._slots = uid, slots

    async def kill(self) -> None:
        self.signal_kill()
        await self.proc.wait()
        reaper = await asyncio.create_subprocess_exec(
            sys.executable, "-S", "-c", _REAP_UID, str(self.uid),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await reaper.wait()
        shutil.rmtree(self.dirs.root, ignore_errors=True)
        self._slots.give_back(self.uid)


class ProcessLauncher:
    """Starts each worker as a plain child process: for pods that already run under gVisor.

    gVisor is the boundary to the node; inside the pod each worker is its own user and
    its own network: the server (root inside the sandbox kernel, holding only
    PROCESS_LAUNCHER_CAPABILITIES) execs the worker under its slot's uid, and the worker,
    before it imports anything, enters new user and network namespaces (so neither the
    service's port nor anything else on the pod's network is reachable) and drops every
    capability. Its directories belong to it alone. The launcher refuses
    to start without the right to switch uids: sessions sharing the server's uid could
    read each other's images and signal the server.

    The spawn passes no `user=`/`group=` keywords: uvloop's `subprocess_exec`, which the
    server runs on, refuses them; the worker drops privileges itself.
    """

    name = "process"

    def __init__(self, state_dir: Path, limits: Limits, stdout_limit: int, max_workers: int = 64) -> None:
        if not can_switch_uids():
            raise ValueError(
                "launcher 'process' runs each worker under its own uid and needs to start as root inside the "
                "gVisor pod (runAsUser: 0, capabilities " + ", ".join(PROCESS_LAUNCHER_CAPABILITIES) + "); "
                "refusing to run every session under the server's own uid")
        self.state_dir, self.limits, self.stdout_limit = state_dir, limits, stdout_limit
        # Twice the live workers: a discarded worker's uid comes back only once the reaper
        # is done, and its replacement must not wait for that.
        self.slots = UidSlots(2 * max_workers)
        self.workers_dir = state_dir / "workers"
        self.workers_dir.mkdir(parents=True, exist_ok=True)
        # Traversable, not listable, not writable: a worker reaches its own directory,
        # learns no other's name, and leaves nothing beside it. (In the pod the state dir
        # is the root of the emptyDir, world-writable until this chmod.)
        for path in (state_dir, self.workers_dir):
            os.chmod(path, 0o711)
        from thyme_sandbox import isolation

        isolation.wipe_environment_block()  # workers may be able to read /proc/<server>/environ
        self.counter = 0

    async def start(self) -> WorkerProcess:
        self.counter += 1
        name = f"proc-{os.getpid()}-{self.counter}-{os.urandom(6).hex()}"
        uid = self.slots.take()
        dirs = WorkerDirs(self.workers_dir / name)
        try:
            dirs.root.mkdir(mode=0o711)
            dirs.input.mkdir(mode=0o750)  # the server writes the image; only this worker's group reads it
            os.chown(dirs.input, os.geteuid(), uid)
            dirs.out.mkdir(mode=0o700)
            os.chown(dirs.out, uid, uid)
            env = {**WORKER_ENV, "MPLCONFIGDIR": str(dirs.out), "HOME": str(dirs.out), "TMPDIR": str(dirs.out),
                   "THYME_WORKER_CONFIG": worker_config(self.limits, self.stdout_limit, uid=uid)}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-S", "-c", _BECOME_UID, str(uid),
                sys.executable, "-u", str(Path(__file__).with_name("worker.py")),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                env=env, cwd=str(dirs.out), start_new_session=True, limit=1 << 20,
            )
        except BaseException:
            shutil.rmtree(dirs.root, ignore_errors=True)
            self.slots.give_back(uid)
            raise
        return ProcessWorker(proc, dirs, name, cleanup=[], inside_input=str(dirs.input),
                             inside_out=str(dirs.out), uid=uid, slots=self.slots)


def launcher_for(kind: str, state_dir: Path, limits: Limits, stdout_limit: int,
                 runsc: str | None = None, max_workers: int = 64) -> RunscLauncher | ProcessLauncher:
    """`runsc` (local isolation) or `process` (inside a gVisor pod); errors name the fix."""
    if kind == "runsc":
        binary = runsc or shutil.which("runsc")
        if not binary:
            raise ValueError("launcher 'runsc' needs gVisor's runsc on PATH (or --runsc PATH); "
                             "inside a pod that already runs under gVisor use --launcher process")
        return RunscLauncher(binary, state_dir, limits, stdout_limit)
    if kind == "process":
        return ProcessLauncher(state_dir, limits, stdout_limit, max_workers)
    raise ValueError(f"unknown launcher {kind!r}: expected 'runsc' or 'process'")
