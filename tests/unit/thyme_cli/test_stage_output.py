"""A stage's output reaches the terminal and its log while it runs, and an interrupt
keeps all of it."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from thyme_cli import stage_output

CHILD = r"""
import signal, sys, time, pathlib
def stop(*_):
    print("stage stopping, checkpoint kept", flush=True)
    sys.exit(130)
signal.signal(signal.SIGINT, stop)
print("step 1 loss 2.5")          # no flush: the child's stdout is a pipe
sys.stderr.write("warning on stderr\n")
gate = pathlib.Path(sys.argv[1])
deadline = time.monotonic() + 60
while not gate.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
print("step 2 loss 2.1")
sys.stderr.write("ValueError: bad row 7\n")
sys.exit(3)
"""


def _wait(what: str, check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_each_line_is_shown_and_logged_while_the_stage_still_runs(tmp_path):
    gate, log, shown = tmp_path / "gate", tmp_path / "logs" / "demo-sft-1.log", []
    result: list[stage_output.Finished] = []
    worker = threading.Thread(target=lambda: result.append(stage_output.run_streaming(
        [sys.executable, "-c", CHILD, str(gate)], dict(os.environ), log, shown.append)))
    worker.start()
    try:
        _wait("the first lines in the log", lambda: log.exists() and b"warning on stderr" in log.read_bytes())
        assert b"step 1 loss 2.5\n" in shown and not result        # still running
    finally:
        gate.touch()
        worker.join(60)
    (done,) = result
    assert done.returncode == 3 and done.tail[-1] == "ValueError: bad row 7"
    assert log.read_bytes().count(b"step") == 2


def test_an_interrupt_stops_the_stage_and_keeps_its_log(tmp_path):
    log, shown = tmp_path / "demo-rl-1.log", []

    def interrupt_once_started() -> None:
        _wait("the stage's first line", lambda: b"step 1 loss 2.5\n" in shown)
        os.kill(os.getpid(), signal.SIGINT)     # what Ctrl-C does to `thyme run`

    # Python raises KeyboardInterrupt only if SIGINT was not ignored when it started, and a
    # runner started in the background by a non-interactive shell (CI) inherits it ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt_once_started, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            stage_output.run_streaming([sys.executable, "-c", CHILD, str(tmp_path / "never")], dict(os.environ),
                                       log, shown.append)
    finally:
        signal.signal(signal.SIGINT, previous)
    text = log.read_text()
    assert "step 1 loss 2.5" in text and "stage stopping, checkpoint kept" in text
    assert "step 2" not in text
