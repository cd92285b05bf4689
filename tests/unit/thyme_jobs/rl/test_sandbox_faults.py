"""Sandbox faults carry no weight; the step is bounded by the sessions the service holds."""

from __future__ import annotations

import pytest
import torch

from thyme_jobs.rl import advantages, faults, waves
from thyme_jobs.rl.config import parse_config
from thyme_jobs.agent.loop import Trajectory


def _t(reason: str) -> Trajectory:
    t = Trajectory("t", "p", "q", [])
    t.finish(reason)
    return t


def test_faulted_trajectories_are_invalid_and_counted() -> None:
    batch = [_t("answer"), _t("sandbox_fault"), _t("sandbox_timeout"), _t("round_limit")]
    valid = faults.valid_mask(batch)
    assert valid == [True, False, True, True]  # a timeout is the code's doing: it trains
    assert faults.fault_rate(valid) == 0.25
    assert not faults.too_many(valid, 0.25) and faults.too_many(valid, 0.2)


def test_a_faulted_member_neither_moves_its_group_nor_gets_an_advantage() -> None:
    rewards = torch.tensor([1.0, 0.0, 0.0, 5.0, 2.0, 2.0, 0.0, 1.0])
    valid = torch.tensor([True, True, True, False, True, False, False, False])
    adv = advantages.group_advantages(rewards, 4, valid=valid)
    alone = advantages.group_advantages(torch.tensor([1.0, 0.0, 0.0]), 3)
    assert torch.allclose(adv[:3], alone) and adv[3] == 0.0  # as if the faulted one never was
    assert torch.equal(adv[4:], torch.zeros(4))  # one valid member: no signal in its group
    everyone = torch.ones(8, dtype=torch.bool)
    assert torch.allclose(advantages.group_advantages(rewards, 4, valid=everyone),
                          advantages.group_advantages(rewards, 4))


def test_the_rollout_holds_no_more_sessions_than_its_share() -> None:
    assert waves.session_budget(8, 2) == 4 and waves.session_budget(1, 8) == 1
    assert waves.waves(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert waves.waves(list(range(3)), None) == [[0, 1, 2]] and waves.waves([], 4) == []


def test_sandbox_limits_are_checked_fields() -> None:
    base = dict(run_root="/r", splits=["s"], sandbox_url="http://sb:8080", steps=1)
    cfg = parse_config(base | {"sandbox_timeout_seconds": 120, "sandbox_max_sessions": 16})
    assert (cfg.sandbox_timeout_seconds, cfg.sandbox_max_sessions, cfg.sandbox_max_fault_rate) == (120, 16, 0.1)
    with pytest.raises(Exception, match="sandbox_max_fault_rate"):
        parse_config(base | {"sandbox_max_fault_rate": 2})


def test_docstring_examples() -> None:
    import doctest

    assert doctest.testmod(faults).failed == 0 and doctest.testmod(waves).failed == 0
