"""One rank of the multi-rank GRPO update tests, run under torchrun (not collected by pytest).

    python -m torch.distributed.run --nproc_per_node 2 rank_worker.py {plain|zero2|zero3} OUT

Each rank takes its block of `rl_fixtures.two_groups()` (with two ranks, one group of two),
takes one GRPO step, saves the update's state, rebuilds everything from a differently
initialised model, loads the state back and takes a second step: the final weights must
equal one process doing both steps on the whole batch. Rank r writes OUT/rank<r>.pt.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from thyme_jobs.rl import advantages, grpo, ranks, updates

from unit.thyme_jobs.rl.rl_fixtures import TinyLM, two_groups

LR, CLIP, BETA, MAX_NORM = 1e-2, 0.2, 0.01, 1.0


def build(kind: str, seed: int, world: ranks.World) -> tuple[updates.PlainUpdate | updates.DeepSpeedUpdate, object]:
    """The update over a TinyLM initialised from `seed` and the reference (always seed 0's
    weights, the start of training; under ZeRO-3 an engine of its own)."""
    torch.manual_seed(0)
    start = TinyLM()
    torch.manual_seed(seed)
    policy = (TinyLM() if seed else start).to(world.device)
    reference = TinyLM()
    reference.load_state_dict(start.state_dict())
    reference.to(world.device)
    if kind == "plain":
        update = updates.PlainUpdate.adamw(policy, learning_rate=LR, max_grad_norm=MAX_NORM, world=world)
        return update, updates.reference_model(reference, None, update)
    micro_steps = 2 * len(ranks.group_share(2, world))  # this rank's trajectories
    update = updates.DeepSpeedUpdate(policy, kind, micro_steps=micro_steps, learning_rate=LR, max_grad_norm=MAX_NORM,
                                     bf16=False, world=world)
    return update, updates.reference_model(reference, kind, update)


def step(update, reference, world: ranks.World) -> dict[str, float]:
    batch, rewards = two_groups()
    adv = advantages.group_advantages(rewards, 2)
    mine = ranks.group_share(2, world)
    lo, hi = mine.start * 2, mine.stop * 2
    return grpo.grpo_update(update, reference, batch[lo:hi], adv[lo:hi], clip_epsilon=CLIP, kl_beta=BETA)


def main(kind: str, out: Path) -> None:
    world = ranks.from_environment()
    started = ranks.start(world, group=True)
    update, reference = build(kind, 0, world)
    first = step(update, reference, world)
    ckpt = out / "ckpt"
    state = update.save(ckpt)
    weights = {k: v.clone() for k, v in update.model.state_dict().items()}
    ranks.barrier(world)

    # a fresh process state: other initial weights, then the checkpoint
    update, reference = build(kind, 1, world)
    if kind == "plain":
        update.model.load_state_dict(weights)
    update.load(ckpt, state)
    second = step(update, reference, world)
    with update.full_weights() as model:
        final = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save({"first": first, "second": second, "weights": final, "world_size": world.size},
               out / f"rank{world.rank}.pt")
    ranks.barrier(world)
    ranks.stop(started)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
