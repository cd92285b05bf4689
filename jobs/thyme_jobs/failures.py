"""How a stage program says why it stopped, so the run's status can say it too.

A usage or input error (missing dataset, invalid config) ends the program with
`exits.USAGE_ERROR`, which neither executor retries, and one line naming the problem:
on stderr (the stage's log, which the local executor's summary quotes) and in the
container's termination message (which the operator copies into the run's status and
events). See `thyme_operator.exits` for the executors' side of the contract: the
number is written there too, since the operator may not import the stage programs and the
sandbox (which imports the store, and so this module) may not import the operator; a
unit test holds the two equal.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

USAGE_ERROR = 64
"""The exit code of a config or input error: `thyme_operator.exits.USAGE_ERROR`."""
TERMINATION_LOG = "/dev/termination-log"
"""Where the kubelet reads a container's termination message (its default terminationMessagePath)."""
TERMINATION_LOG_ENV = "THYME_TERMINATION_LOG"


class InputError(ValueError):
    """The stage's config or inputs are missing or unusable: the same attempt would fail
    the same way, so the stage ends with `exits.USAGE_ERROR` and is not retried. The
    message names the field, split or key and says what to change."""
"""Overrides where the termination message goes (tests; a pod uses the kubelet's default)."""


def usage_error(stage: str, message: object) -> int:
    """Report `message` as the stage's reason to stop and return the exit code that says "do not retry"."""
    line = f"thyme {stage}: {message}"
    print(line, file=sys.stderr, flush=True)
    write_termination_message(line)
    return USAGE_ERROR


def write_termination_message(line: str) -> None:
    """Write `line` where the kubelet reads a container's termination message, when that file is there.

    Outside a container the default path does not exist (and /dev is not ours to create
    files in), so nothing is written."""
    path = Path(os.environ.get(TERMINATION_LOG_ENV) or TERMINATION_LOG)
    if not path.exists() and TERMINATION_LOG_ENV not in os.environ:
        return
    try:
        path.write_text(line[:4096] + "\n")  # the kubelet keeps at most 4096 bytes
    except OSError:
        pass  # a read-only or missing file must not hide the error itself, already on stderr
