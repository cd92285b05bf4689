"""What a step leaves behind for people: metric values and inspectable trajectory records.

Pure: the stage shell writes these to TensorBoard and the store. With several ranks,
each sends its `StepShare` and every rank `merge`s them, so rank 0 writes the step as
one process would have, and every rank keeps the same counters. The metric names are the
ones the issue asks for (rewards by kind, tool calls per trajectory, sandbox errors,
judge latency), grouped by prefix so TensorBoard shows them as sections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import fmean
from typing import Any

from thyme_jobs.rl.judge import JudgeStats
from thyme_jobs.rl.rewards import RewardBreakdown
from thyme_jobs.agent.loop import Trajectory


def _mean(values: Sequence[float]) -> float:
    return fmean(values) if values else 0.0


def rollout_metrics(trajectories: Sequence[Trajectory], seconds: float) -> dict[str, float]:
    sandbox = sum(t.sandbox_seconds for t in trajectories)
    return {
        "rollout/trajectories": float(len(trajectories)),
        "rollout/seconds": seconds,
        "rollout/rounds_per_trajectory": _mean([t.rounds for t in trajectories]),
        "rollout/tool_calls_per_trajectory": _mean([t.tool_calls for t in trajectories]),
        "rollout/images_per_trajectory": _mean([t.image_count for t in trajectories]),
        "rollout/completion_chars": _mean([len(t.completion) for t in trajectories]),
        "rollout/failed_trajectories": float(sum(t.failure is not None for t in trajectories)),
        "rollout/answered_fraction": _mean([t.finish_reason == "answer" for t in trajectories]),
        "sandbox/errors": float(sum(t.sandbox_errors for t in trajectories)),
        "sandbox/faults": float(sum(t.finish_reason == "sandbox_fault" for t in trajectories)),
        "sandbox/timeouts": float(sum(t.finish_reason == "sandbox_timeout" for t in trajectories)),
        "sandbox/call_seconds_total": sandbox,
    }


def reward_metrics(scores: Sequence[RewardBreakdown]) -> dict[str, float]:
    return {
        "reward/total": _mean([s.total for s in scores]),
        "reward/format": _mean([s.format for s in scores]),
        "reward/accuracy": _mean([s.accuracy for s in scores]),
        "reward/consistency": _mean([s.consistency for s in scores]),
        "reward/judged_fraction": _mean([s.accuracy_source == "judge" for s in scores]),
    }


def judge_metrics(stats: JudgeStats, outage: bool) -> dict[str, float]:
    return {
        "judge/outage": float(outage),
        "judge/requests": float(stats.requests),
        "judge/retries": float(stats.retries),
        "judge/failures": float(stats.failures),
        "judge/latency_mean_seconds": _mean(stats.latencies),
        "judge/latency_max_seconds": max(stats.latencies, default=0.0),
    }


def trajectory_record(
    t: Trajectory, score: RewardBreakdown | None, advantage: float | None, image_keys: list[str]
) -> dict[str, Any]:
    """One JSONL line of rl/rollouts/<step>.jsonl."""
    return {
        "id": t.id,
        "row_id": t.prompt_id,
        "question": t.question,
        "truth": t.truth,
        "completion": t.completion,
        "finish_reason": t.finish_reason,
        "failure": t.failure,
        "rounds": t.rounds,
        "tool_calls": t.tool_calls,
        "sandbox_errors": t.sandbox_errors,
        "sandbox_images": image_keys,
        "rewards": None if score is None else {
            "total": score.total, "format": score.format, "accuracy": score.accuracy,
            "consistency": score.consistency, "accuracy_source": score.accuracy_source,
        },
        "advantage": advantage,
    }


@dataclass
class StepShare:
    """One rank's part of a step, gathered by every rank before the update.

    `trajectories` start at global position `first`; those past `keep` carry empty image
    bytes (counts kept, bytes dropped): only the first `keep_rollouts` are written out, and
    a step's sandbox images would be heavy to send between processes.
    """

    first: int
    trajectories: list[Trajectory]
    scores: list[RewardBreakdown] | None
    judge: JudgeStats
    seconds: float
    outage: BaseException | None = None


def light_copy(t: Trajectory) -> Trajectory:
    """`t` with every image's bytes dropped (their number stays, for the metrics)."""
    segments = [replace(s, images=[b""] * len(s.images)) for s in t.segments]
    return replace(t, input_images=[b""] * len(t.input_images), segments=segments)


def share(first: int, trajectories: Sequence[Trajectory], scores: list[RewardBreakdown] | None, judge: JudgeStats,
          seconds: float, outage: BaseException | None, keep: int) -> StepShare:
    light = [t if first + i < keep else light_copy(t) for i, t in enumerate(trajectories)]
    return StepShare(first, light, scores, judge, seconds, outage)


def merge(shares: Sequence[StepShare]) -> StepShare:
    """The whole step from every rank's share, in global order; the slowest rank's time;
    the first outage (any rank's outage is the step's: no rank updates on unknown rewards)."""
    shares = sorted(shares, key=lambda s: s.first)
    outages = [s.outage for s in shares if s.outage is not None]
    judge = JudgeStats()
    for s in shares:
        judge.requests += s.judge.requests
        judge.retries += s.judge.retries
        judge.failures += s.judge.failures
        judge.latencies.extend(s.judge.latencies)
    return StepShare(
        first=0,
        trajectories=[t for s in shares for t in s.trajectories],
        scores=None if outages else [x for s in shares for x in (s.scores or [])],
        judge=judge,
        seconds=max((s.seconds for s in shares), default=0.0),
        outage=outages[0] if outages else None,
    )
