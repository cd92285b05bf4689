"""Condition types and reasons of a ThymeRun, and the metav1.Condition arithmetic.

Types and reasons are named constants with a sentence each, so `kubectl describe`
readers, alerts and tests agree on the spelling. Pure: no I/O.
"""

from __future__ import annotations

# --- types
READY = "Ready"
"""True when every stage has succeeded: the run's final artifact exists."""
PROGRESSING = "Progressing"
"""True while a stage is running or waiting to retry."""
FAILED = "Failed"
"""True when a stage failed more often than its retry limit allows; terminal."""
SUSPENDED = "Suspended"
"""True while spec.suspend holds the run; the active stage's workloads are deleted."""
WORKLOADS_CREATED = "WorkloadsCreated"
"""False while the API server refuses a child of the current attempt (quota, PodSecurity,
a webhook, an invalid object); the message is the API server's own."""


def stage_type(stage: str) -> str:
    """One condition per stage, e.g. `ConvertSucceeded`, `SftSucceeded`, `RlSucceeded`."""
    return f"{stage.capitalize()}Succeeded"


# --- reasons
REASON_PENDING = "Pending"
"""Nothing has started yet."""
REASON_STAGE_RUNNING = "StageRunning"
"""A stage's workloads exist and its Job has not finished."""
REASON_BACKING_OFF = "BackingOff"
"""A stage attempt failed; the next attempt waits for its backoff delay."""
REASON_STAGE_SUCCEEDED = "StageSucceeded"
"""The stage's Job completed."""
REASON_MANIFEST_FOUND = "ManifestFound"
"""The stage's manifest was already in the store; the stage is skipped."""
REASON_STAGE_FAILED = "StageFailed"
"""A stage exhausted its retries; the message names the stage."""
REASON_RUN_SUCCEEDED = "RunSucceeded"
"""All stages succeeded."""
REASON_SUSPENDED = "SuspendedBySpec"
"""spec.suspend is true."""
REASON_RESUMED = "Resumed"
"""spec.suspend went back to false."""
REASON_CREATE_REFUSED = "CreateRefused"
"""The API server refused to create a child; the message names it and says why."""
REASON_CREATED = "Created"
"""Every child the current attempt needs was created."""
REASON_DEADLINE_EXCEEDED = "DeadlineExceeded"
"""The stage ran past spec.stages.<stage>.timeouts.deadlineSeconds and was failed."""
REASON_PENDING_TIMEOUT = "PendingTimeout"
"""No pod of the attempt ran within spec.stages.<stage>.timeouts.pendingSeconds."""
REASON_IMAGE_NOT_ALLOWED = "ImageNotAllowed"
"""The run names an image outside the operator's allow-list; nothing is created."""
REASON_NOT_SUSPENDED = "NotSuspended"
REASON_NOT_FAILED = "NotFailed"
REASON_NOT_STARTED = "NotStarted"


def set_condition(conditions: list[dict], type_: str, status: str, reason: str, message: str,
                  generation: int | None, now: str) -> list[dict]:
    """A copy of `conditions` with `type_` set; `lastTransitionTime` moves only when
    the status flips, as metav1.Condition prescribes."""
    out = [dict(c) for c in conditions]
    for cond in out:
        if cond["type"] == type_:
            if cond["status"] != status:
                cond["lastTransitionTime"] = now
            cond.update(status=status, reason=reason, message=message, observedGeneration=generation)
            return out
    out.append({"type": type_, "status": status, "reason": reason, "message": message,
                "observedGeneration": generation, "lastTransitionTime": now})
    return out


def get(conditions: list[dict], type_: str) -> dict | None:
    return next((c for c in conditions if c["type"] == type_), None)
