"""Start and stop server processes so that nothing outlives the test session.

Every server runs in its own process group (`start_new_session`), so stopping it kills
its children too; `atexit` catches an interpreter that exits without running fixture
teardown (Ctrl-C, a crash in collection).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_live: set[subprocess.Popen] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(argv: Sequence[str | os.PathLike], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a server with stdout and stderr appended to `log`."""
    out = open(log, "ab")
    proc = subprocess.Popen(
        [str(a) for a in argv],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    out.close()
    _live.add(proc)
    return proc


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it after `grace` seconds."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
    # Children that ignored SIGTERM while the leader exited still get killed.
    _signal_group(proc, signal.SIGKILL)
    _live.discard(proc)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen | None = None,
               log: Path | None = None) -> None:
    """Poll `check` until it is true; fail with the tail of the log if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}\n{tail(log)}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet; the loop is the retry
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f}s\n{tail(log)}")


def wait_for(what: str, probe: Callable[[], object], timeout: float = 60, interval: float = 0.5):
    """Poll `probe` until it returns something truthy and return that; fail naming `what` and the last value.

    Unlike `wait_until`, a probe's exception is a failure, not "not yet": these probe a
    cluster that is already up, where an error means the test is wrong.
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@atexit.register
def _stop_all() -> None:
    for proc in list(_live):
        stop(proc, grace=2.0)
