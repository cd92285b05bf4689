"""The GRPO update: the clipped-ratio objective with a k3 KL penalty, on masked tokens.

Per token t of a trajectory with advantage A (research notes section 4.1, swift's
`loss_type='grpo'`):

    ratio_t = exp(logp_t - old_logp_t)
    gain_t  = min(ratio_t * A, clip(ratio_t, 1 - eps, 1 + eps) * A)
    kl_t    = exp(ref_t - logp_t) - (ref_t - logp_t) - 1          (k3, always >= 0)
    loss    = - mean_over_trajectories( mean_over_masked_t(gain_t - beta * kl_t) )

Only tokens the policy sampled count: the prompt, `<sandbox_output>` text and image
tokens are masked, because the policy did not choose them (Thyme: "sandbox outputs
excluded from |tau| and advantage"). Rollouts are on-policy with one update per batch,
so `old_logp` is the detached current log-probability and the ratio starts at 1; the
clip matters when a batch is reused (`old_logp` passed in).

Trajectories differ in images and length, so they go through the model one at a time
with gradients accumulated: no padding, no mixing of vision inputs. With several ranks
each backpropagates its own share and the gradients are averaged (`grpo_update` says how
the loss is weighted so that the result equals one process doing the whole batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch

from thyme_jobs.agent.encoding import EncodedTrajectory  # noqa: F401 - the update's input type
from thyme_jobs.rl import updates


def token_logprobs(model: Any, seq: EncodedTrajectory) -> torch.Tensor:
    """log p(token_t | tokens_<t) for t = 1..T-1, shape [T-1]."""
    device = next(model.parameters()).device
    ids = seq.input_ids.to(device).unsqueeze(0)
    extra = {k: v.to(device) for k, v in seq.extra.items()}
    logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), **extra).logits[0, :-1].float()
    return torch.log_softmax(logits, dim=-1).gather(-1, ids[0, 1:, None]).squeeze(-1)


def grpo_token_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor,
    advantage: float | torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_epsilon: float,
    kl_beta: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One trajectory's loss (mean over its masked tokens) and diagnostics.

    All tensors are aligned per predicted token ([T-1]); `mask` selects the policy's own.

    >>> lp = torch.log(torch.tensor([0.5, 0.5]))
    >>> loss, _ = grpo_token_loss(lp, lp, lp, 1.0, torch.tensor([True, False]), clip_epsilon=0.2, kl_beta=0.1)
    >>> float(loss)  # ratio 1, KL 0: the loss is -A
    -1.0
    """
    mask = mask.to(logp.dtype)
    count = mask.sum().clamp(min=1.0)
    ratio = torch.exp(logp - old_logp)
    gain = torch.minimum(ratio * advantage, torch.clamp(ratio, 1 - clip_epsilon, 1 + clip_epsilon) * advantage)
    delta = ref_logp - logp
    kl = torch.exp(delta) - delta - 1.0
    loss = -((gain - kl_beta * kl) * mask).sum() / count
    with torch.no_grad():
        clipped = ((ratio - 1).abs() > clip_epsilon).to(logp.dtype)
        stats = {
            "kl": float((kl * mask).sum() / count),
            "clip_fraction": float((clipped * mask).sum() / count),
            "tokens": float(mask.sum()),
        }
    return loss, stats


class Update(Protocol):
    """What the step needs from the optimiser side (`updates.PlainUpdate`, `updates.DeepSpeedUpdate`)."""

    forward: Any
    world_size: int
    lockstep: bool

    def train(self) -> None: ...
    def zero_grad(self) -> None: ...
    def total(self, values: list[float]) -> list[float]: ...
    def backward(self, loss: torch.Tensor) -> None: ...
    def step(self) -> float: ...


def grpo_step(
    policy: Any,
    reference: Any | None,
    optimizer: torch.optim.Optimizer,
    batch: Sequence[EncodedTrajectory],
    advantages: torch.Tensor,
    *,
    clip_epsilon: float,
    kl_beta: float,
    max_grad_norm: float = 1.0,
) -> dict[str, float]:
    """One optimiser step of a single process with a plain torch optimizer (see `grpo_update`)."""
    update = updates.PlainUpdate(policy, optimizer, max_grad_norm=max_grad_norm)
    return grpo_update(update, reference, batch, advantages, clip_epsilon=clip_epsilon, kl_beta=kl_beta)


def grpo_update(
    update: Update,
    reference: Any | None,
    batch: Sequence[EncodedTrajectory],
    advantages: Sequence[float] | torch.Tensor,
    *,
    clip_epsilon: float,
    kl_beta: float,
) -> dict[str, float]:
    """One optimiser step over this rank's `batch`; returns mean loss, KL, clip fraction and grad norm.

    The loss is the mean over every rank's trajectories that have policy tokens. Rank r
    backpropagates `sum_{i in r} loss_i * W / N` (N such trajectories over all W ranks);
    averaging gradients over ranks divides by W, which leaves `sum_i loss_i / N`, the
    single-process loss of the whole batch. A trajectory with no policy tokens (a
    failure before the first token) carries no signal: it is skipped, or, when the update
    runs in lockstep, goes through at weight 0.
    """
    update.train()
    update.zero_grad()
    usable = [bool(seq.loss_mask[1:].any()) for seq in batch]
    (n_total,) = update.total([float(sum(usable))])
    sums = {"loss": 0.0, "kl": 0.0, "clip_fraction": 0.0, "tokens": 0.0}
    if n_total == 0:  # every rank sees the same total, so every rank skips the step
        return {**sums, "grad_norm": 0.0, "trajectories": 0.0}
    weight = update.world_size / n_total
    device = next(update.forward.parameters()).device
    for i, seq in enumerate(batch):
        if not (usable[i] or update.lockstep):
            continue
        mask = seq.loss_mask[1:].to(device)
        logp = token_logprobs(update.forward, seq)
        if reference is not None and kl_beta > 0:
            with torch.no_grad():
                ref_logp = token_logprobs(reference, seq)
        else:
            ref_logp = logp.detach()
        loss, stats = grpo_token_loss(
            logp, logp.detach(), ref_logp, float(advantages[i]), mask, clip_epsilon=clip_epsilon, kl_beta=kl_beta
        )
        update.backward(loss * (weight if usable[i] else 0.0))
        if usable[i]:
            sums["loss"] += float(loss.detach())
            sums["kl"] += stats["kl"]
            sums["clip_fraction"] += stats["clip_fraction"]
            sums["tokens"] += stats["tokens"]
    grad_norm = update.step()
    loss, kl, clip, tokens = update.total([sums["loss"], sums["kl"], sums["clip_fraction"], sums["tokens"]])
    return {"loss": loss / n_total, "kl": kl / n_total, "clip_fraction": clip / n_total, "tokens": tokens,
            "grad_norm": grad_norm, "trajectories": n_total}
