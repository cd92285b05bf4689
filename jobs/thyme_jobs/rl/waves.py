"""Rolling a step out in waves no larger than the sandbox sessions the trainer may hold.

A trajectory holds its sandbox session from its first code block to its end, and the
rounds of a rollout wait for each other. With more trajectories than the service has
workers, some would wait for a session that only a finished trajectory frees, while
those wait for the round to end: the pool answers PoolExhausted and the trajectories
fault. So a step is rolled out in consecutive waves of at most the session budget,
each wave's sessions closed before the next opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def session_budget(max_sessions: int | None, world_size: int) -> int | None:
    """Sessions one trainer process may hold: its share of the service's capacity.

    >>> session_budget(24, 8), session_budget(4, 8), session_budget(None, 8)
    (3, 1, None)
    """
    if max_sessions is None:
        return None
    return max(1, max_sessions // world_size)


def waves(items: Sequence[T], size: int | None) -> list[list[T]]:
    """`items` in order, in consecutive chunks of at most `size` (one chunk when unbounded).

    >>> waves([1, 2, 3, 4, 5], 2), waves([1, 2], None)
    ([[1, 2], [3, 4], [5]], [[1, 2]])
    """
    if not items:
        return []
    if size is None or size >= len(items):
        return [list(items)]
    return [list(items[i:i + size]) for i in range(0, len(items), size)]
