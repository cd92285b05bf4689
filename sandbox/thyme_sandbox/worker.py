"""The program that runs inside one sandbox: a persistent Python serving one session.

Started by `launching.py` under gVisor (or, in a pod that is already gVisor, as a plain
process that first makes itself its own user on its own network: `isolation.py`), it imports Pillow, numpy and cv2 once, lowers its own rlimits, says "ready",
and then executes the session's calls in one namespace so variables and imports persist
across calls, as they did in the reference's execution context. Requests and replies
are frames on the fds that were stdin and stdout; fds 0-2 are then pointed at
/dev/null so user code that prints at the C level, or closes stdout, cannot corrupt the
channel.

The service never trusts this process: it enforces wall time by killing it from outside,
and a worker that dies, hangs or answers garbage costs only its own session.
"""

from __future__ import annotations

import io
import json
import os
import resource
import sys
import time
import traceback

if __package__ in (None, ""):  # run as a script inside the sandbox
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from thyme_sandbox import framing, harvesting, isolation  # noqa: E402

CODE_FILENAME = "<code>"
MAX_IMAGE_BYTES = 32 * 1024 * 1024


class BoundedStdout(io.TextIOBase):
    """Keeps the first `limit` characters printed and counts the rest.

    100 MB of prints must not become 100 MB in memory, on the pipe, or in a prompt.
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.parts, self.kept, self.dropped = limit, [], 0, 0

    def write(self, text: str) -> int:
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def writable(self) -> bool:
        return True

    def value(self) -> str:
        return "".join(self.parts)


def apply_limits(limits: dict[str, int]) -> None:
    """Lower this process's rlimits now that the heavy imports are done.

    Address space is granted on top of what the warm interpreter already maps, so
    "memory" means what user code may add, not a number that numpy and cv2 eat first.
    """
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    table = {
        resource.RLIMIT_AS: mapped + limits["memory_bytes"],
        resource.RLIMIT_CPU: limits["cpu_seconds"],
        resource.RLIMIT_NPROC: limits["processes"],
        resource.RLIMIT_FSIZE: limits["file_bytes"],
        resource.RLIMIT_NOFILE: limits["open_files"],
        resource.RLIMIT_CORE: 0,
    }
    for kind, value in table.items():
        _, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


def error_of(exc: BaseException) -> dict:
    """Type, message and the line of the user's code, as a person reads a traceback."""
    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == CODE_FILENAME:
            line = lineno
    return {"type": type(exc).__name__, "message": str(exc)[:2000], "line": line}


class Session:
    """One session's namespace and output directory, and the execution of its calls."""

    def __init__(self, input_path: str | None, out_dir: str, stdout_limit: int) -> None:
        import math
        import random
        import re
        import string

        import cv2
        import numpy
        from PIL import Image

        self.out_dir, self.stdout_limit = out_dir, stdout_limit
        self.owner = os.getpid()
        # The reference pre-set these names; trained code uses them without importing.
        self.namespace: dict = {
            "__name__": "__main__", "__builtins__": __builtins__,
            "os": os, "random": random, "string": string, "math": math, "json": json, "re": re,
            "Image": Image, "numpy": numpy, "np": numpy, "cv2": cv2,
            "image_path": input_path, "temp_output_dir": out_dir,
        }

    def run(self, code: str, make_dirs: list[str]) -> tuple[dict, list[bytes]]:
        for sub in make_dirs:
            try:  # a link planted to lead out ends on the read-only host view and fails
                os.makedirs(os.path.join(self.out_dir, sub), exist_ok=True)
            except OSError:
                pass
        before = self.namespace.get("processed_path")
        captured = BoundedStdout(self.stdout_limit)
        status, error = "ok", None
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = captured
        started = time.perf_counter()
        try:
            exec(compile(code, CODE_FILENAME, "exec"), self.namespace)
        except MemoryError as exc:
            status, error = "oom", error_of(exc)
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything, SystemExit included
            status, error = "error", error_of(exc)
        finally:
            if os.getpid() != self.owner:
                os._exit(0)  # a child forked by user code must never answer on the channel
            sys.stdout, sys.stderr = saved
            _restore_std_fds()
        wall = time.perf_counter() - started
        stdout = captured.value()
        after = self.namespace.get("processed_path")
        new_path = after if isinstance(after, str) and after != before else None
        paths = harvesting.harvest(stdout, self.out_dir, new_path, lambda: harvesting.list_images(self.out_dir),
                                   lambda p: harvesting.is_inside(p, self.out_dir))
        blobs, names = [], []
        for path in paths:
            if os.path.getsize(path) <= MAX_IMAGE_BYTES:
                with open(path, "rb") as image:
                    blobs.append(image.read())
                names.append(os.path.relpath(path, self.out_dir))
        header = {"status": status, "stdout": stdout, "stdout_truncated": captured.dropped > 0,
                  "error": error, "images": names, "exec_seconds": wall}
        return header, blobs


def _restore_std_fds() -> None:
    """Point fds 0-2 back at /dev/null in case user code closed or replaced them."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        if fd != null:
            os.dup2(null, fd)
    if null > 2:
        os.close(null)


def serve(chan_in: int, chan_out: int, limits: dict[str, int], stdout_limit: int) -> None:
    """Answer frames until the channel closes: `init` once, then any number of `run`."""
    import cv2
    import numpy  # noqa: F401 - imported once here so calls never pay for it
    from PIL import Image  # noqa: F401

    cv2.setNumThreads(1)
    apply_limits(limits)
    framing.write_all(chan_out, framing.encode({"ready": True, "pid": os.getpid()}))
    session: Session | None = None
    while True:
        try:
            request, _ = framing.read_frame(chan_in)
        except framing.FrameError:
            return
        if request.get("op") == "init":
            session = Session(request.get("input_path"), request["out_dir"], stdout_limit)
            os.chdir(request["out_dir"])
            reply, blobs = {"ok": True}, []
        elif request.get("op") == "run" and session is not None:
            reply, blobs = session.run(request["code"], request.get("make_dirs", []))
        else:
            reply, blobs = {"ok": False, "message": f"unexpected request {request.get('op')!r}"}, []
        framing.write_all(chan_out, framing.encode(reply, blobs))


def main() -> None:
    config = json.loads(os.environ.get("THYME_WORKER_CONFIG", "{}"))
    chan_in, chan_out = os.dup(0), os.dup(1)
    _restore_std_fds()
    if config.get("uid") is not None:  # the process launcher: isolate before importing anything
        try:
            isolation.become_worker(int(config["uid"]))
        except OSError as exc:  # say why instead of "ready": the pool logs it and never uses this worker
            framing.write_all(chan_out, framing.encode({"ready": False, "error": f"isolation failed: {exc}"}))
            sys.exit(1)
    limits = {"memory_bytes": 1 << 30, "cpu_seconds": 120, "processes": 16, "file_bytes": 64 << 20,
              "open_files": 256, **config.get("limits", {})}
    serve(chan_in, chan_out, limits, int(config.get("stdout_limit", 16384)))


if __name__ == "__main__":
    main()
