"""DeepEyes rewards for a batch of trajectories: the pure rules, then the judge, concurrently.

Accuracy, per rule (`rewards.py`):
- visual: an answer equal to the ground truth after normalisation (case, spaces, edge
  punctuation) is correct without asking; anything else goes to the judge (CORRECT /
  INCORRECT at temperature 0.1). Answers of 1000+ characters are never sent: they score 0.
- thinklite: math-verify on the last `\\boxed{}`; when it says no, the judge's equivalence
  verdict; no `\\boxed{}` scores 0 without asking.
Without a judge, what the rules leave undecided scores 0 (`accuracy_source` "unjudged"),
and the stage's manifest says so. A judge that fails after its retries fails the whole
batch (`JudgeError`), as in Thyme's scoring: unknown rewards are never zeros.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from thyme_jobs.deepeyes import judging, rewards
from thyme_jobs.rl import rewards as thyme_rewards
from thyme_jobs.rl.judge import JudgeClient


@dataclass
class DeepEyesRequest:
    question: str  # the user turn, `<image>` placeholders removed
    completion: str
    truth: str
    rule: rewards.Rule
    bad_calls: int = 0


@dataclass
class DeepEyesBreakdown(thyme_rewards.RewardBreakdown):
    """A RewardBreakdown (what the stage's metrics and records read) with DeepEyes' own terms."""

    tool: float = 0.0
    step_penalty: float = 0.0
    rule: str = "visual"


async def _visual(req: DeepEyesRequest, judge: JudgeClient | None, tool_bonus: rewards.ToolBonus) -> DeepEyesBreakdown:
    answer = rewards.visual_answer(req.completion)
    source = "rule"
    if len(answer.text) >= rewards.MAX_ANSWER_CHARS or not answer.text:
        accuracy = 0.0
    elif thyme_rewards.normalise(answer.text) == thyme_rewards.normalise(req.truth):
        accuracy = 1.0
    elif judge is None:
        accuracy, source = 0.0, "unjudged"
    else:
        accuracy, source = await judge.judge(
            judging.visual_messages(req.question, req.truth, answer.text), judging.read_visual_verdict,
            what="CORRECT/INCORRECT verdict", temperature=judging.VISUAL_TEMPERATURE, max_tokens=16,
            extra={"chat_template_kwargs": {"enable_thinking": False}}), "judge"
    score = rewards.visual_score(accuracy, answer, rewards.tool_used(req.completion), req.bad_calls, tool_bonus)
    return _breakdown(score, source)


async def _thinklite(req: DeepEyesRequest, judge: JudgeClient | None) -> DeepEyesBreakdown:
    answer = rewards.boxed_answer(req.completion)
    source = "rule"
    if answer.text is None:
        accuracy = 0.0
    elif thyme_rewards.normalise(answer.text) == thyme_rewards.normalise(req.truth) or \
            thyme_rewards.math_equal(answer.text, req.truth):
        accuracy = 1.0
    elif judge is None:
        accuracy, source = 0.0, "unjudged"
    else:
        accuracy, source = await judge.judge(
            judging.math_messages(req.question, req.truth, answer.text), judging.read_math_verdict,
            what="TRUE/FALSE equivalence judgement", temperature=judging.MATH_TEMPERATURE, max_tokens=32), "judge"
    return _breakdown(rewards.thinklite_score(accuracy, answer, req.bad_calls), source)


def _breakdown(score: rewards.Score, source: str) -> DeepEyesBreakdown:
    return DeepEyesBreakdown(format=score.format, accuracy=score.accuracy, consistency=0.0, total=score.total,
                             accuracy_source=source, tool=score.tool, step_penalty=score.step_penalty,
                             rule=score.rule)


async def score_batch(requests: list[DeepEyesRequest], judge: JudgeClient | None,
                      tool_bonus: rewards.ToolBonus = "when_correct") -> list[DeepEyesBreakdown]:
    """One breakdown per request, in order; raises JudgeError when a needed verdict fails."""
    return list(await asyncio.gather(*(
        _thinklite(r, judge) if r.rule == "thinklite" else _visual(r, judge, tool_bonus) for r in requests)))
