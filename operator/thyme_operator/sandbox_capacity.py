"""How many sessions a sandbox pod holds, and the limits of each, from `sandbox.memory`/`cpu`.

A step opens `batchSize x numGenerations` sessions (512 with the defaults); a pod that
accepted them all would grow its workers past its memory limit and be OOM-killed or
evicted, taking every session on it down. So the pod's size decides, in one place:

- `workers`: sessions one pod holds at once. Each costs a warm interpreter
  (`WORKER_BASE_BYTES`, numpy + cv2 + Pillow imported) plus what its user code may
  allocate (`worker_memory_bytes`); the server and the gVisor sentry keep
  `SERVER_RESERVE_BYTES`. Several workers per core: a session mostly waits for the
  policy to write its next block.
- `worker_memory_bytes`: the address space a session's code may add (RLIMIT_AS).
- `scratch_bytes` and `scratch_volume_bytes`: what one session may keep on disk, and the
  emptyDir that holds every session's at once plus the service's own state, so one
  session filling its scratch cannot get the pod evicted.
- `max_starts`: workers booting at once, one per core (booting is CPU-bound).

The trainer bounds its open sessions to `replicas x workers` (the RL config's
`sandbox_max_sessions`), so it waits for capacity instead of meeting PoolExhausted.
Pure: quantities in, numbers out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MIB = 1 << 20
SERVER_RESERVE_BYTES = 512 * MIB
WORKER_BASE_BYTES = 128 * MIB
MIN_WORKER_MEMORY_BYTES = 256 * MIB
WORKERS_PER_CORE = 4
MAX_WORKERS = 64
SCRATCH_BYTES = 128 * MIB
STATE_RESERVE_BYTES = 256 * MIB

_SUFFIXES = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
             "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60, "m": 1e-3}


def quantity(text: str) -> float:
    """A Kubernetes quantity as a number: "2Gi" -> 2147483648, "500m" -> 0.5, "1e3" -> 1000.

    >>> quantity("2Gi"), quantity("500m"), quantity("1.5")
    (2147483648.0, 0.5, 1.5)
    """
    match = re.fullmatch(r"\+?([0-9.]+)(?:([eE][-+]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?)", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity such as 2Gi or 500m")
    number, exponent, suffix = match.groups()
    value = float(number + (exponent or ""))
    return value * _SUFFIXES[suffix or ""]


@dataclass(frozen=True)
class SandboxCapacity:
    workers: int
    worker_memory_bytes: int
    scratch_bytes: int
    scratch_volume_bytes: int
    max_starts: int


def capacity(memory: str, cpu: str) -> SandboxCapacity:
    """The sessions and limits of one sandbox pod of `memory` and `cpu`; errors name the field.

    >>> capacity("2Gi", "2")
    SandboxCapacity(workers=4, worker_memory_bytes=268435456, scratch_bytes=134217728, scratch_volume_bytes=805306368, max_starts=2)
    """
    memory_bytes, cores = quantity(memory), quantity(cpu)
    usable = memory_bytes - SERVER_RESERVE_BYTES
    if usable < WORKER_BASE_BYTES + MIN_WORKER_MEMORY_BYTES:
        need = (SERVER_RESERVE_BYTES + WORKER_BASE_BYTES + MIN_WORKER_MEMORY_BYTES) // MIB
        raise ValueError(f"sandbox.memory {memory!r} holds no sandbox worker: give it at least {need}Mi "
                         f"({SERVER_RESERVE_BYTES // MIB}Mi for the server, {WORKER_BASE_BYTES // MIB}Mi + "
                         f"{MIN_WORKER_MEMORY_BYTES // MIB}Mi per worker)")
    by_cpu = max(1, math.floor(cores * WORKERS_PER_CORE))
    by_memory = int(usable // (WORKER_BASE_BYTES + MIN_WORKER_MEMORY_BYTES))
    workers = max(1, min(by_cpu, by_memory, MAX_WORKERS))
    share = int(usable // workers) - WORKER_BASE_BYTES
    worker_memory = share // MIB * MIB  # whole MiB
    return SandboxCapacity(
        workers=workers, worker_memory_bytes=worker_memory, scratch_bytes=SCRATCH_BYTES,
        scratch_volume_bytes=workers * SCRATCH_BYTES + STATE_RESERVE_BYTES, max_starts=max(1, math.floor(cores)))
