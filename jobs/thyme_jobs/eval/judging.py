"""The matching judge of V* and HR-Bench: which option does a free-form answer mean?

VLMEvalKit asks its judge (a GPT model) when `can_infer` finds no letter, reads the
judge's reply with `can_infer` again, and tries three times (research notes section 3).
Here the judge is any OpenAI-compatible endpoint through the RL stage's `JudgeClient`
(timeouts, backoff, bounded concurrency); the prompt is ours. A judge that answers but
never names a letter ends in `scorers.judge_gave_up`; a judge that does not answer at all
is the reference's "API down" case, exact matching (option Z, wrong), and is counted in
the results so that it is never mistaken for a model's failure.
"""

from __future__ import annotations

import logging

from thyme_jobs.eval import answers, scorers
from thyme_jobs.rl.judge import JudgeClient, JudgeUnavailable, JudgeVerdictError

log = logging.getLogger(__name__)

MATCH_PROMPT = """You match a free-form answer to the options of a multiple-choice question.
Question: {question}
Options:
{options}
Answer: {answer}
Reply with the single upper-case letter of the option the answer means. If it means none of them, reply Z."""


def match_prompt(question: str, options: dict[str, str], answer: str) -> str:
    listed = "\n".join(f"{letter}. {text}" for letter, text in options.items())
    return MATCH_PROMPT.format(question=question, options=listed, answer=answer)


async def judge_letter(judge: JudgeClient, question: str, options: dict[str, str], prediction: str, truth: str,
                       on_failure: scorers.JudgeFailure, seed: str) -> scorers.Scored:
    """Ask the judge for the option letter; never raises for a judge problem (it is scored and counted)."""
    def parse(reply: str) -> str | None:
        return answers.can_infer(reply, dict(options))

    try:
        letter = await judge.ask(match_prompt(question, options, prediction), parse, "option letter")
    except JudgeVerdictError as exc:
        log.warning("judge named no option for item %s: %s", seed, exc)
        return scorers.judge_gave_up(options, truth, on_failure, seed)
    except JudgeUnavailable as exc:
        log.error("judge unavailable for item %s, scored by exact matching: %s", seed, exc)
        return scorers.Scored("Z", truth == "Z", "judge_unavailable")
    return scorers.Scored(letter, letter == truth, "judge")
