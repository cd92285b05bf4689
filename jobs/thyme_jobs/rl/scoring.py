"""Rewards for a batch of trajectories: rules first, then the judge, concurrently.

The pure rules (`rewards.py`) settle what they can; only the undecided answers go to the
judge, and consistency is asked only where the answer is right (it counts nowhere else).
All judge calls of a batch run at once. If any of them fails for good, the whole batch
raises `JudgeError`: half-judged rewards would bias the group advantages, and zeros in
place of verdicts are exactly the silent failure this stage exists to avoid.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from thyme_jobs.rl import rewards
from thyme_jobs.rl.config import RewardWeights
from thyme_jobs.rl.judge import JudgeClient


@dataclass
class ScoreRequest:
    question: str
    completion: str
    truth: str


async def score_batch(
    requests: list[ScoreRequest], weights: RewardWeights, judge: JudgeClient | None
) -> list[rewards.RewardBreakdown]:
    """One breakdown per request, in order; raises JudgeError when a needed verdict fails."""
    answers = [rewards.extract_answer(r.completion) for r in requests]
    formats = [rewards.format_reward(r.completion) for r in requests]
    accuracy = [rewards.rule_accuracy(a, r.truth) for a, r in zip(answers, requests)]
    sources = ["rule" if a is not None else ("judge" if judge else "unjudged") for a in accuracy]

    if judge is not None:
        undecided = [i for i, a in enumerate(accuracy) if a is None]
        verdicts = await asyncio.gather(
            *(judge.correctness(requests[i].question, answers[i] or "", requests[i].truth) for i in undecided)
        )
        for i, v in zip(undecided, verdicts):
            accuracy[i] = v
    final = [a if a is not None else 0.0 for a in accuracy]

    consistency = [0.0] * len(requests)
    if judge is not None:
        right = [i for i, a in enumerate(final) if a > 0]
        verdicts = await asyncio.gather(
            *(judge.consistency(rewards.reasoning_tail(requests[i].completion), answers[i] or "") for i in right)
        )
        for i, v in zip(right, verdicts):
            consistency[i] = v

    return [
        rewards.RewardBreakdown(
            format=f,
            accuracy=a,
            consistency=c,
            total=rewards.total_reward(
                f, a, c, w_format=weights.format, w_accuracy=weights.accuracy, w_consistency=weights.consistency
            ),
            accuracy_source=s,
        )
        for f, a, c, s in zip(formats, final, consistency, sources)
    ]
