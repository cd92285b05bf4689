"""A sandbox pod's sessions and limits follow its memory and CPU."""

from __future__ import annotations

import pytest

from thyme_operator import sandbox_capacity as sc


@pytest.mark.parametrize(("memory", "cpu", "workers"), [
    ("2Gi", "2", 4),        # memory-bound: (2048 - 512) / (128 + 256)
    ("16Gi", "2", 8),       # CPU-bound: 4 per core
    ("64Gi", "32", 64),     # capped
    ("1Gi", "500m", 1),     # half a core still runs one
])
def test_workers_fit_the_pod(memory: str, cpu: str, workers: int) -> None:
    room = sc.capacity(memory, cpu)
    assert room.workers == workers
    budget = sc.SERVER_RESERVE_BYTES + room.workers * (sc.WORKER_BASE_BYTES + room.worker_memory_bytes)
    assert budget <= sc.quantity(memory) and room.worker_memory_bytes >= sc.MIN_WORKER_MEMORY_BYTES
    assert room.scratch_volume_bytes >= room.workers * room.scratch_bytes + sc.STATE_RESERVE_BYTES


def test_quantities_parse_like_kubernetes() -> None:
    assert sc.quantity("1Ki") == 1024 and sc.quantity("1k") == 1000 and sc.quantity("250m") == 0.25
    assert sc.quantity("1e3") == 1000 and sc.quantity("3") == 3
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        sc.quantity("lots")


def test_a_pod_too_small_for_a_worker_says_how_much_it_needs() -> None:
    with pytest.raises(ValueError, match="at least 896Mi"):
        sc.capacity("768Mi", "1")


def test_docstring_examples() -> None:
    import doctest

    assert doctest.testmod(sc).failed == 0
