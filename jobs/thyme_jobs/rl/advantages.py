"""Group-normalised advantages (GRPO): each trajectory against its own prompt's group.

A prompt's `num_generations` trajectories sit next to each other in the batch. The
advantage of one is its reward minus its group's mean, divided by the group's standard
deviation (Thyme kept swift's default `scale_rewards=True`). A group whose rewards are
all equal carries no signal: its advantages are exactly 0, not 0/0.
"""

from __future__ import annotations

import torch


def group_advantages(rewards: torch.Tensor, group_size: int, *, scale: bool = True, eps: float = 1e-4,
                     valid: torch.Tensor | None = None) -> torch.Tensor:
    """(r - mean_group) / (std_group + eps), groups of `group_size` consecutive rewards.

    The standard deviation is the unbiased one (n - 1), as in TRL and swift. With
    `valid`, only the valid members of a group make its mean and spread, and the others
    get exactly 0 (rewards.faults: a trajectory the sandbox cut short is not signal); a
    group with fewer than two valid members has no signal at all.

    >>> group_advantages(torch.tensor([1.0, 0.0, 2.0, 2.0]), 2)
    tensor([ 0.7070, -0.7070,  0.0000,  0.0000])
    >>> group_advantages(torch.tensor([1.0, 0.0, 0.0, 5.0]), 4, valid=torch.tensor([True, True, True, False]))
    tensor([ 1.1545, -0.5773, -0.5773,  0.0000])
    """
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    grouped = rewards.float().view(-1, group_size)
    if valid is None:
        centred = grouped - grouped.mean(dim=1, keepdim=True)
        if scale and group_size > 1:
            centred = centred / (grouped.std(dim=1, keepdim=True) + eps)
        return centred.view(-1)
    keep = valid.to(torch.bool).view(-1, group_size)
    weight = keep.float()
    count = weight.sum(dim=1, keepdim=True)
    mean = (grouped * weight).sum(dim=1, keepdim=True) / count.clamp(min=1)
    centred = (grouped - mean) * weight
    if scale:
        std = ((centred**2).sum(dim=1, keepdim=True) / (count - 1).clamp(min=1)).sqrt()
        centred = centred / (std + eps)
    return torch.where(count >= 2, centred, torch.zeros_like(centred)).view(-1)


def zero_variance_fraction(rewards: torch.Tensor, group_size: int) -> float:
    """The share of groups whose rewards are all equal: their advantages are 0, so they teach nothing.

    Near 1 means the step did (almost) nothing: every sample right, every sample wrong,
    or a reward that cannot tell them apart.

    >>> zero_variance_fraction(torch.tensor([1.0, 1.0, 0.0, 0.5]), 2)
    0.5
    """
    grouped = rewards.float().view(-1, group_size)
    return float((grouped.max(dim=1).values == grouped.min(dim=1).values).float().mean())
