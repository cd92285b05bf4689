"""How a process-launcher worker makes itself a stranger to the server and to other sessions.

Inside a gVisor pod there is no nested runsc to give each session a sandbox of its own,
yet sessions must not see each other (one trajectory rewriting another's images is
reward tampering) nor the service (its port, its signals, its /proc). The server (root
inside the sandbox kernel, with only the capabilities
`launching.PROCESS_LAUNCHER_CAPABILITIES`) execs the worker under its slot's uid and
gid with no supplementary groups, so the files, processes and /proc entries of the
server and of every other session belong to someone else. The worker then, before
importing anything:

1. checks that it is that uid and nothing more;
2. enters a new user namespace (mapping only that uid) and new network and IPC
   namespaces: its network has nothing on it, so the service's port, the pod's network
   and the node are out of reach, and no SysV shared memory is shared;
3. drops every capability it holds in that namespace and sets no_new_privs, so no
   later exec gains any back.

Any step that fails stops the worker before it says ready: a worker that could not
isolate itself never serves a session.
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _write(path: str, text: str) -> None:
    """One write to a /proc file, without O_CREAT or O_TRUNC (procfs refuses them)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def become_worker(uid: int) -> None:
    """As `uid` (exec'd so by the launcher): private user/network/IPC namespaces, no capabilities."""
    libc = _libc()
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid) or os.getgroups():
        raise OSError(f"worker isolation: started as uids {os.getresuid()} gids {os.getresgid()} "
                      f"groups {os.getgroups()}, not as {uid} alone")
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC), "unshare(user, net, ipc)")
    if os.path.exists("/proc/self/setgroups"):  # Linux asks for it before gid_map; older gVisor has none
        _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{uid} {uid} 1")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    header, data = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset(none)")
    # Non-dumpable: /proc/<this pid> is closed to processes of other uids.
    _check(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    if os.getuid() != uid:
        raise OSError(f"worker isolation: uid {os.getuid()} inside the new namespace, not {uid}")


def wipe_environment_block() -> int:
    """Zero this process's original environment strings, as /proc/<pid>/environ shows them.

    The server's environment is its configuration (and, with images_to=store, its store
    credentials). Linux shows /proc/<pid>/environ only to the process's own uid, but
    older gVisor releases make it world-readable, so every worker could read the
    server's. Python copied the environment into `os.environ` at start-up, and children
    get their environment passed explicitly, so the block itself is not needed after
    start-up. Returns how many strings were wiped.
    """
    libc = _libc()
    environ = ctypes.POINTER(ctypes.c_char_p).in_dll(libc, "environ")
    wiped = 0
    index = 0
    while True:
        address = ctypes.cast(environ, ctypes.POINTER(ctypes.c_void_p))[index]
        if not address:
            return wiped
        ctypes.memset(address, 0, len(ctypes.string_at(address)))
        wiped += 1
        index += 1
