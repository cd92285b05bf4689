"""Splitting a step over ranks, gathering it back, and the update's side of GRPO, in one process."""

from __future__ import annotations

import doctest
import sys

import pytest
import torch

from thyme_jobs.rl import grpo, ranks, records, updates
from thyme_jobs.rl.judge import JudgeStats, JudgeUnavailable
from thyme_jobs.rl.rewards import RewardBreakdown
from thyme_jobs.agent.loop import Segment, Trajectory

from .rl_fixtures import TinyLM, two_groups


def test_each_rank_gets_a_contiguous_block_of_whole_groups() -> None:
    shares = [ranks.group_share(6, ranks.World(rank=r, size=3)) for r in range(3)]
    assert [list(s) for s in shares] == [[0, 1], [2, 3], [4, 5]]
    assert list(ranks.group_share(5, ranks.World())) == [0, 1, 2, 3, 4]


def test_a_batch_that_does_not_split_over_the_ranks_names_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size 3 does not split over 2 processes"):
        ranks.group_share(3, ranks.World(rank=0, size=2))


def test_the_world_comes_from_torchruns_variables() -> None:
    assert ranks.from_environment({}, cuda=False) == ranks.World()
    world = ranks.from_environment({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}, cuda=False)
    assert (world.rank, world.size, world.is_main, world.is_node_main, world.device) == (5, 8, False, False, "cpu")


def test_a_world_of_one_needs_no_process_group() -> None:
    world = ranks.World()
    assert ranks.total([1.5, 2], world) == [1.5, 2.0] and ranks.all_gather("x", world) == ["x"]
    param = torch.nn.Parameter(torch.ones(2))
    param.grad = torch.full((2,), 3.0)
    ranks.average_gradients([param], world)
    assert param.grad.tolist() == [3.0, 3.0]


def _trajectory(tid: str, images: int) -> Trajectory:
    t = Trajectory(tid, "row", "<image>\nq", [b"jpeg"], "a")
    t.segments = [Segment("<code>x</code>", True), Segment("<sandbox_output>", False, [b"png"] * images)]
    return t


def _score(total: float) -> RewardBreakdown:
    return RewardBreakdown(format=1.0, accuracy=total, consistency=0.0, total=total, accuracy_source="rule")


def test_merged_shares_read_like_one_process_and_keep_only_the_kept_images() -> None:
    a = records.share(0, [_trajectory("a0", 1), _trajectory("a1", 2)], [_score(1), _score(0)],
                      JudgeStats(2, 1, 0, [0.5]), 3.0, None, keep=3)
    b = records.share(2, [_trajectory("b0", 1), _trajectory("b1", 0)], [_score(0.5), _score(0.5)],
                      JudgeStats(1, 0, 0, [0.7]), 5.0, None, keep=3)
    whole = records.merge([b, a])  # gathered in any order, merged in step order
    assert [t.id for t in whole.trajectories] == ["a0", "a1", "b0", "b1"]
    assert [s.total for s in whole.scores] == [1, 0, 0.5, 0.5]
    assert whole.trajectories[2].segments[1].images == [b"png"]  # position 2 < keep
    assert whole.trajectories[3].input_images == [b""]  # past keep: bytes dropped, count kept
    assert [t.image_count for t in whole.trajectories] == [2, 3, 2, 1]
    assert (whole.seconds, whole.judge.requests, whole.judge.latencies) == (5.0, 3, [0.5, 0.7])
    assert records.rollout_metrics(whole.trajectories, whole.seconds)["rollout/images_per_trajectory"] == 2.0


def test_an_outage_on_one_rank_is_the_steps_outage() -> None:
    ok = records.share(0, [_trajectory("a", 0)], [_score(1)], JudgeStats(), 1.0, None, keep=0)
    down = records.share(1, [_trajectory("b", 0)], None, JudgeStats(failures=1), 1.0,
                         JudgeUnavailable("HTTP 503"), keep=0)
    whole = records.merge([ok, down])
    assert whole.scores is None and isinstance(whole.outage, JudgeUnavailable) and whole.judge.failures == 1


class RecordingUpdate(updates.PlainUpdate):
    """A plain update that records the weight of every backward pass."""

    def __init__(self, model: torch.nn.Module, lockstep: bool) -> None:
        super().__init__(model, torch.optim.SGD(model.parameters(), lr=0.1))
        self.lockstep = lockstep
        self.weights: list[float] = []

    def backward(self, loss: torch.Tensor) -> None:
        self.weights.append(0.0 if float(loss.detach()) == 0.0 else 1.0)
        super().backward(loss)


@pytest.mark.parametrize("lockstep, passes", [(False, 3), (True, 4)])
def test_lockstep_runs_trajectories_without_policy_tokens_at_weight_zero(lockstep: bool, passes: int) -> None:
    torch.manual_seed(0)
    update = RecordingUpdate(TinyLM(), lockstep)
    batch, _ = two_groups()
    stats = grpo.grpo_update(update, None, batch, [1.0, -1.0, 0.5, 0.7], clip_epsilon=0.2, kl_beta=0.0)
    assert len(update.weights) == passes and update.weights[3:] in ([], [0.0])
    assert stats["trajectories"] == 3  # the empty one counts in neither mode


def test_asking_for_deepspeed_without_it_names_the_field(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "deepspeed", None)  # import deepspeed -> ImportError
    with pytest.raises(RuntimeError, match=r"deepspeed='zero2' needs the DeepSpeed package.*deepspeed: null"):
        updates.DeepSpeedUpdate(TinyLM(), "zero2", micro_steps=2, learning_rate=1e-3, max_grad_norm=1.0, bf16=False,
                                world=ranks.World())


def test_deepspeed_buckets_scale_with_the_language_models_width() -> None:
    assert updates.hidden_size(TinyLM(width=24)) == 24
    with pytest.raises(ValueError, match="hidden_size"):
        updates.hidden_size(torch.nn.Linear(2, 2))


def test_docstring_examples() -> None:
    assert doctest.testmod(ranks).failed == 0
