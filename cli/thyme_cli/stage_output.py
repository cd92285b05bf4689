"""A stage program's output, shown and logged while it runs.

`thyme run` used to collect a stage's stderr with `communicate()`: nothing appeared
until the stage exited (an SFT stage can run for hours), and a Ctrl-C lost all of
it, the log file included. Here every line goes to the terminal and to the stage's
log file the moment the program writes it, and an interrupt still leaves the whole
log on disk: the child is asked to stop (SIGINT, as a terminal would), given time to
write its last words, and what it wrote is drained into the log before the
interrupt goes on up.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

STOP_SECONDS = 30.0
"""How long an interrupted stage may take to exit before it is killed."""
TAIL_LINES = 50


@dataclass(frozen=True)
class Finished:
    returncode: int
    tail: list[str]      # the last lines it printed, for the failure message


def run_streaming(argv: Sequence[str], env: Mapping[str, str], log: Path,
                  echo: Callable[[bytes], None]) -> Finished:
    """Run `argv`, stdout and stderr merged, each line echoed and appended to `log` at once."""
    log.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[bytes] = deque(maxlen=TAIL_LINES)
    # Unbuffered: a Python child writing to a pipe would otherwise hold stdout back in 8 KiB blocks.
    env = {**env, "PYTHONUNBUFFERED": "1"}
    with open(log, "ab", buffering=0) as out:
        proc = subprocess.Popen(list(argv), env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None

        def keep(line: bytes) -> None:
            out.write(line)
            echo(line)
            if line.strip():
                tail.append(line)

        try:
            for line in iter(proc.stdout.readline, b""):
                keep(line)
            proc.wait()
        except KeyboardInterrupt:
            _stop(proc)
            _drain(proc, keep)
            raise
        finally:
            proc.stdout.close()
    return Finished(proc.returncode, [t.decode(errors="replace").rstrip("\n") for t in tail])


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT (the child may already have it from the terminal), then SIGKILL after a while."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _drain(proc: subprocess.Popen, keep: Callable[[bytes], None]) -> None:
    """What the child wrote after the interrupt; non-blocking, since a grandchild may
    still hold the pipe open."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    rest = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        rest += chunk
    for line in rest.splitlines(keepends=True):
        keep(line)
