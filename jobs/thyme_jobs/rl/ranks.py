"""The RL stage's processes: which share of a step each rank does, and the collectives it needs.

`thyme rl` runs as one process or as `torchrun --nproc-per-node N` (one process per GPU;
gloo on CPU). A step's prompts split into contiguous blocks of whole groups, one block
per rank, so every rank normalises advantages over complete groups and no rewards have
to travel before the update; equal blocks also give every rank the same number of
backward passes, which DeepSpeed needs (its gradient reduction is collective inside each
backward). What the step leaves for people (metrics, rollout records, checkpoints'
manifests) is gathered and written by rank 0 alone.

Gradients of the plain (non-DeepSpeed) update are averaged here, once per step, after
every trajectory's backward: not by wrapping the policy in DistributedDataParallel,
whose reducer fires inside each backward and so needs every rank to run the same number
of backward passes through the same parameters. Trajectories differ per rank in count
(one without policy tokens is skipped) and in which parameters they touch (a text-only
context leaves the vision tower out); a reduction after the last backward does not care,
and with many backward passes per step DDP's overlap would hide almost nothing.

Every function is a no-op for a world of one, so the single-process path is the same code.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from thyme_jobs import process_group

#: Elements per all-reduce of the plain update: 64 MiB of fp32, large enough to keep a
#: link busy, small enough not to double a 7B model's gradient memory.
BUCKET_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class World:
    """This process's place among the stage's processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_node_main(self) -> bool:
        """The first process on its machine: the one that fetches to and uploads from local disk."""
        return self.local_rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def from_environment(environ: Mapping[str, str] | None = None, *, cuda: bool | None = None) -> World:
    """The world torchrun describes in RANK, WORLD_SIZE and LOCAL_RANK (a world of one without them).

    >>> from_environment({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, cuda=True)
    World(rank=3, size=4, local_rank=1, device='cuda:1')
    """
    environ = os.environ if environ is None else environ
    cuda = torch.cuda.is_available() if cuda is None else cuda
    local_rank = int(environ.get("LOCAL_RANK", "0"))
    return World(rank=int(environ.get("RANK", "0")), size=int(environ.get("WORLD_SIZE", "1")),
                 local_rank=local_rank, device=f"cuda:{local_rank}" if cuda else "cpu")


def start(world: World, *, group: bool = False) -> bool:
    """Pick this rank's GPU and join the process group (NCCL on GPUs, gloo on CPU); True if
    this call started the group. `group` asks for one even in a world of one: DeepSpeed
    needs it, and without torchrun's variables would go looking for MPI."""
    cuda = world.device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(world.local_rank)
    if dist.is_initialized() or not (world.distributed or group):
        return False
    process_group.prepare()  # so that stop() really frees the group
    backend = "nccl" if cuda else "gloo"
    device_id = torch.device(world.device) if cuda else None
    if world.distributed:
        dist.init_process_group(backend=backend, device_id=device_id)
    else:  # an in-memory rendezvous: no port to pick
        dist.init_process_group(backend=backend, store=dist.HashStore(), rank=0, world_size=1, device_id=device_id)
        # DeepSpeed reads the local rank from the environment, which only launchers set
        os.environ.setdefault("LOCAL_RANK", "0")
    return True


def stop(started: bool) -> None:
    """Leave the process group; its collective threads are joined before this returns."""
    if started and dist.is_initialized():
        dist.destroy_process_group()


def group_share(n_groups: int, world: World) -> range:
    """The groups (prompts) of a step this rank rolls out: a contiguous block of whole groups.

    >>> [list(group_share(4, World(rank=r, size=2))) for r in range(2)]
    [[0, 1], [2, 3]]
    """
    if n_groups % world.size:
        raise ValueError(
            f"batch_size {n_groups} does not split over {world.size} processes: make batch_size a multiple of "
            "the process count, so that every rank rolls out whole groups and takes the same number of "
            "backward passes")
    per_rank = n_groups // world.size
    return range(world.rank * per_rank, (world.rank + 1) * per_rank)


def all_gather(obj: Any, world: World) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank (pickled: keep it small)."""
    if not world.distributed:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def total(values: Iterable[float], world: World) -> list[float]:
    """Element-wise sums over ranks (float64, so counts stay exact)."""
    values = [float(v) for v in values]
    if not world.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=world.device)
    dist.all_reduce(t)
    return t.tolist()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def node_scratch(world: World, prefix: str) -> Path:
    """A local directory shared by the ranks of one machine (made by its first rank).

    Ranks on one machine must agree on where the model, the resumed checkpoint and
    DeepSpeed's per-rank files are; torchrun numbers a machine's ranks contiguously, so a
    rank's machine-mate number 0 is global rank `rank - local_rank`.
    """
    # THYME_WORK_DIR is the pod's sized scratch volume; locally it is unset (the temp dir).
    base = os.environ.get("THYME_WORK_DIR") or None
    made = tempfile.mkdtemp(prefix=prefix, dir=base) if world.is_node_main else None
    paths = all_gather(made, world)
    return Path(paths[world.rank - world.local_rank])


def average_gradients(params: Iterable[torch.nn.Parameter], world: World,
                      bucket_elements: int = BUCKET_ELEMENTS) -> None:
    """Replace each gradient by its mean over ranks, in fp32 buckets.

    A parameter no rank touched keeps `grad is None`, as in a single process, so the
    optimizer skips it (AdamW would otherwise decay it); one some ranks touched gets the
    mean with zeros from the others.
    """
    if not world.distributed:
        return
    params = [p for p in params if p.requires_grad]
    touched = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=world.device)
    dist.all_reduce(touched)
    params = [p for p, n in zip(params, touched.tolist()) if n > 0]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    bucket: list[torch.nn.Parameter] = []
    size = 0
    for p in params:
        bucket.append(p)
        size += p.numel()
        if size >= bucket_elements:
            _average(bucket, world)
            bucket, size = [], 0
    if bucket:
        _average(bucket, world)


def _average(bucket: list[torch.nn.Parameter], world: World) -> None:
    flat = torch.cat([p.grad.reshape(-1).float() for p in bucket])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for p in bucket:
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n
