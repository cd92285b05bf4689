"""How a process-launcher worker makes itself a stranger to the server and to other sessions.

Inside a gVisor pod there is no nested runsc to give each session a sandbox of its own,
yet sessions must not see each other (one trajectory rewriting another's images is
reward tampering) nor the service (its port, its signals, its /proc). The worker is
started by the server (root inside the sandbox kernel, with only the capabilities
`launching.PROCESS_LAUNCHER_CAPABILITIES`) and, before importing anything:

1. takes its slot's uid and gid and no supplementary groups: files, processes and /proc
   entries of the server and of every other session now belong to someone else;
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
    with open(path, "w") as handle:
        handle.write(text)


def become_worker(uid: int) -> None:
    """Switch to `uid`, enter private user/network/IPC namespaces, drop all capabilities."""
    libc = _libc()
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    # Changing uid made this process non-dumpable, which hands /proc/self to root; the
    # namespace maps below are written through /proc/self, so take it back first.
    _check(libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC), "unshare(user, net, ipc)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{uid} {uid} 1")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    header, data = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset(none)")
    # Non-dumpable again: /proc/<this pid> stays closed to processes of other uids.
    _check(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    if os.getuid() != uid or os.geteuid() != uid or os.getgroups():
        raise OSError(f"worker isolation: still uid {os.getuid()}/{os.geteuid()} groups {os.getgroups()}")
