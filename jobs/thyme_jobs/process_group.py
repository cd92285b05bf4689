"""What the SFT and RL stages do before joining torch.distributed's process group.

Both stages run under torchrun and leave the group when their work is done. With torch
2.15, importing `torch._inductor` (the first optimizer does, through `torch._dynamo`)
while a gloo group exists keeps that group alive after `destroy_process_group`. Its
worker threads then live into interpreter shutdown, and one still releasing the last
collective's tensors needs the GIL that shutdown is taking away: the rank dies with
"terminate called without an active exception" (SIGABRT) after its work is done, and
torchrun fails the whole run. It happens now and then, more often on a loaded machine.
With the compiler stack imported first, the group is freed when it is destroyed and its
threads are joined there.
"""

from __future__ import annotations


def prepare() -> None:
    """Call before `init_process_group` (or accelerate's `PartialState`)."""
    import torch._dynamo  # noqa: F401
