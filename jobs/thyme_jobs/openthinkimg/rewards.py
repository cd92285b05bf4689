"""V-ToolRL's rewards (research notes, A4): accuracy, and optionally the format of the rounds.

Accuracy is 1.0 when the trajectory's answer, its Terminate `ans` (else the last reply's
text), matches the solution by the ChartGemma checks (math-verify, exact, percent,
decimal); OpenThinkIMG's default trains on accuracy alone. Format is the fraction of the
model's rounds that are valid JSON replies. total = accuracy * w_accuracy + format * w_format
(no judge and no consistency term: V-ToolRL has neither).
"""

from __future__ import annotations

from thyme_jobs.agent.loop import Trajectory
from thyme_jobs.openthinkimg import actions, chartgemma
from thyme_jobs.rl.config import RewardWeights
from thyme_jobs.rl.rewards import RewardBreakdown


def breakdown(trajectory: Trajectory, answer: str | None, weights: RewardWeights) -> RewardBreakdown:
    replies = [s.text for s in trajectory.segments if s.trainable]
    candidate = answer if answer is not None else (replies[-1] if replies else None)
    accuracy = 1.0 if chartgemma.score(candidate, trajectory.truth).correct else 0.0
    fmt = actions.format_reward(replies)
    return RewardBreakdown(format=fmt, accuracy=accuracy, consistency=0.0,
                           total=accuracy * weights.accuracy + fmt * weights.format, accuracy_source="rule")
