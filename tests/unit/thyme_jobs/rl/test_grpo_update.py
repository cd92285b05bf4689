"""Group advantages and the GRPO step, on a constructed batch and a tiny language model."""

from __future__ import annotations

import doctest
import pytest
import torch

from thyme_jobs.rl import advantages, grpo

from .rl_fixtures import TinyLM, trajectory as _trajectory


def _sequence_logp(model: torch.nn.Module, seq: grpo.EncodedTrajectory) -> float:
    with torch.no_grad():
        return float((grpo.token_logprobs(model, seq) * seq.loss_mask[1:]).sum())


def test_group_advantages_normalise_within_each_group() -> None:
    adv = advantages.group_advantages(torch.tensor([2.0, 0.0, 1.0, 1.0, 0.5, 1.5]), 2)
    assert adv[0] > 0 > adv[1]
    assert adv[2] == 0 and adv[3] == 0  # equal rewards: no signal, not NaN
    assert torch.allclose(adv[4:], torch.tensor([-0.7070, 0.7070]), atol=1e-3)
    assert torch.isfinite(adv).all()


def test_group_advantages_reject_a_ragged_batch() -> None:
    with pytest.raises(ValueError, match="groups of 4"):
        advantages.group_advantages(torch.zeros(6), 4)


def test_unscaled_advantages_are_centred_rewards() -> None:
    adv = advantages.group_advantages(torch.tensor([3.0, 1.0]), 2, scale=False)
    assert adv.tolist() == [1.0, -1.0]


def test_masked_tokens_get_no_gradient() -> None:
    logp = torch.log(torch.full((5,), 0.3)).requires_grad_()
    mask = torch.tensor([False, True, False, True, False])
    loss, stats = grpo.grpo_token_loss(
        logp, logp.detach() - 0.1, logp.detach() + 0.2, 1.5, mask, clip_epsilon=0.2, kl_beta=0.1
    )
    loss.backward()
    assert torch.all(logp.grad[~mask] == 0) and torch.all(logp.grad[mask] != 0)
    assert stats["tokens"] == 2


def test_the_ratio_is_clipped_in_the_direction_of_the_advantage() -> None:
    old = torch.log(torch.tensor([0.5]))
    high = torch.log(torch.tensor([0.9])).requires_grad_()  # ratio 1.8 > 1 + eps
    loss, stats = grpo.grpo_token_loss(high, old, high.detach(), 1.0, torch.tensor([True]), clip_epsilon=0.2, kl_beta=0.0)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(-1.2)  # clipped gain (1 + eps) * A
    assert float(high.grad) == 0.0  # no push past the clip
    assert stats["clip_fraction"] == 1.0


def test_k3_kl_is_zero_at_the_reference_and_positive_elsewhere() -> None:
    lp = torch.log(torch.tensor([0.2, 0.4]))
    mask = torch.tensor([True, True])
    _, same = grpo.grpo_token_loss(lp, lp, lp, 0.0, mask, clip_epsilon=0.2, kl_beta=1.0)
    _, moved = grpo.grpo_token_loss(lp, lp, lp + 0.5, 0.0, mask, clip_epsilon=0.2, kl_beta=1.0)
    assert same["kl"] == 0.0 and moved["kl"] > 0


def test_one_step_moves_the_policy_towards_the_advantage() -> None:
    torch.manual_seed(0)
    policy = TinyLM()
    reference = TinyLM()
    reference.load_state_dict(policy.state_dict())
    prompt = [1, 2, 3]
    good = _trajectory(prompt + [4, 5, 6, 7], 3)
    bad = _trajectory(prompt + [8, 9, 10, 11], 3)
    # tokens 9 and 10 play a sandbox output: masked, so the step must leave them alone
    env = _trajectory(prompt + [8, 9, 10, 11], 3, masked=(4, 5))
    before = [_sequence_logp(policy, s) for s in (good, bad)]
    params_before = [p.detach().clone() for p in policy.parameters()]
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-2)
    stats = grpo.grpo_step(
        policy, reference, optimizer, [good, bad], torch.tensor([1.0, -1.0]), clip_epsilon=0.2, kl_beta=0.01
    )
    after = [_sequence_logp(policy, s) for s in (good, bad)]
    assert after[0] > before[0] and after[1] < before[1]
    assert all(not torch.equal(a, b) for a, b in zip(params_before, policy.parameters()))
    assert stats["trajectories"] == 2 and stats["tokens"] == 8 and torch.isfinite(torch.tensor(stats["loss"]))
    assert env.loss_mask.tolist() == [False] * 3 + [True, False, False, True]


def test_a_trajectory_without_policy_tokens_is_skipped() -> None:
    policy = TinyLM()
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.1)
    empty = _trajectory([1, 2, 3], 3)
    stats = grpo.grpo_step(policy, None, optimizer, [empty], torch.tensor([1.0]), clip_epsilon=0.2, kl_beta=0.0)
    assert stats["trajectories"] == 0 and stats["grad_norm"] == 0.0


def test_docstring_examples() -> None:
    assert doctest.testmod(advantages).failed == 0
    assert doctest.testmod(grpo).failed == 0
