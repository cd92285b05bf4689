"""How a stage program's end tells its executor whether another attempt could help.

A stage that stops on its own input (no parquet files under `dataset.source`, a config
that fails validation, a shard count that contradicts the done markers) fails the same
way on every attempt: retrying it with backoff only delays the message the user needs.
Those errors exit with `USAGE_ERROR`; anything else (a crash, an OOM kill, a node going
away, a judge outage) keeps the retry policy.

Both executors read the same code: the local executor from the process's exit status,
the Job through a `podFailurePolicy` rule that fails the Job at once with reason
`PodFailurePolicy` (builders/job.py), which `kube.observe` reports as not retryable.

The program's last error line reaches the run's status through the container's
termination message: the program writes it to `TERMINATION_LOG` (the kubelet's default
`terminationMessagePath`), and `terminationMessagePolicy: FallbackToLogsOnError` puts the
tail of the log there when a crash wrote nothing.

64 is `EX_USAGE` of BSD's sysexits.h; 1 (Python's uncaught exception), 2 (argparse) and
3 (the RL stage's judge outage) already mean other things here.
"""

from __future__ import annotations

USAGE_ERROR = 64
TERMINATION_LOG = "/dev/termination-log"
JOB_FAILED_BY_POLICY = "PodFailurePolicy"
"""The reason of a Job's Failed condition when a podFailurePolicy FailJob rule matched."""


def last_line(text: str, limit: int = 300) -> str:
    """The last non-empty line of a program's output, cut to `limit` characters: usually its error, named."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:limit] if lines else ""
