"""Sandbox faults are not training signal.

A trajectory that the sandbox service cut short (unreachable, pool exhausted, session
lost: `finish_reason == "sandbox_fault"`) says nothing about the policy's code: the
code never ran. Scored like the rest, it gets a low reward for having written code,
and the policy learns to stop writing code. So such a trajectory gets no weight: no
loss, and no place in its group's mean and spread (`valid_mask` feeds
`advantages.group_advantages`). And a step where many trajectories faulted is an
outage of the sandbox, handled like a judge outage: not trained on, counted, rolled
out again, and after `sandbox_max_fault_steps` such steps in a row the stage fails.
"""

from __future__ import annotations

from collections.abc import Sequence

from thyme_jobs.agent.loop import Trajectory

SANDBOX_FAULT = "sandbox_fault"


class SandboxFaultsExceeded(RuntimeError):
    """Too many trajectories of too many steps in a row were cut short by the sandbox service."""


def valid_mask(trajectories: Sequence[Trajectory]) -> list[bool]:
    """True for each trajectory that may train: it was not cut short by a sandbox fault."""
    return [t.finish_reason != SANDBOX_FAULT for t in trajectories]


def fault_rate(valid: Sequence[bool]) -> float:
    """The share of trajectories cut short by a sandbox fault.

    >>> fault_rate([True, False, True, True])
    0.25
    """
    return (len(valid) - sum(valid)) / len(valid) if valid else 0.0


def too_many(valid: Sequence[bool], max_rate: float) -> bool:
    """Whether the step is a sandbox outage: more faulted trajectories than `max_rate` allows.

    >>> too_many([True] * 9 + [False], 0.1), too_many([True] * 8 + [False] * 2, 0.1)
    (False, True)
    """
    return fault_rate(valid) > max_rate
