"""VLMEvalKit's Thyme loop (research notes 1.4), batched across items.

Per item, as the reference does it:

- up to `max_retry` attempts, each with a fresh sandbox session; inside an attempt up to
  `max_iterations` segments, each generated until `</code>` or `</answer>` and appended to
  the same assistant turn (the model continues its own message);
- a segment with a code block runs it: on success the segment and
  `<sandbox_output>` + the images (or the printed text) + `</sandbox_output>` are
  appended; on failure (error, timeout, no output) nothing is appended, the iteration is
  used up and the sandbox state is rolled back: the error is never shown to the model;
- a segment with `</answer>` ends the item; one with neither code nor answer ends the
  attempt, as does running out of iterations; after a failed attempt the temperature
  becomes `retry_temperature` (VLMEvalKit's 1.0; with top_k 1 the retry is still greedy);
- when no attempt answered, one generation with the simple prompt and no stop strings,
  wrapped in `<answer>` if it has none.

What differs on purpose: items run side by side. Every round sends all items that need a
segment to the engine in one call per sampling setting (one batch instead of one
`generate` per item and segment), and the sandbox calls of a round run concurrently.
An item's transcript and answer do not depend on what else is in the batch except
through the engine's numerics (batched greedy decoding can differ in the last bits).

Rollback: the reference restores a pickled copy of its in-process execution context. Our
sandbox is a separate service, so `RollbackRunner` gets the same effect by replaying the
item's successful code blocks into a fresh session before the next run after a failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from thyme_jobs.agent import loop, thyme_code
from thyme_jobs.agent.loop import IMAGE, Engine, Generation, Sampling, Segment, Trajectory
from thyme_jobs.agent.protocols import ANSWER_CLOSE, Observation, ToolCall, ToolFault
from thyme_jobs.eval import answers, prompts

log = logging.getLogger(__name__)

STOPS = (thyme_code.CODE_CLOSE, ANSWER_CLOSE)  # VLMEvalKit's SPECIAL_STRING_LIST


@dataclass(frozen=True)
class LoopSettings:
    """The reference's knobs; the defaults are VLMEvalKit's Thyme defaults."""

    max_iterations: int = 5
    max_retry: int = 5
    max_new_tokens: int = 2048
    temperature: float = 0.01
    top_p: float = 0.001
    top_k: int = 1
    retry_temperature: float | None = 1.0  # None: keep `temperature` on retries
    fallback: bool = True
    rollback: Literal["replay", "none"] = "replay"
    max_images: int | None = None  # images per item the model may see; None: no limit (the reference)

    def sampling(self, temperature: float, stops: tuple[str, ...] = STOPS) -> Sampling:
        return Sampling(temperature, self.max_new_tokens, stops, self.top_p, self.top_k)


@dataclass
class EvalTrajectory(Trajectory):
    """A Trajectory whose prompt is VLMEvalKit's (system + image + user text) rather than a row's."""

    system: str | None = None
    user_text: str = ""


@dataclass
class ItemRun:
    """One item's progress through attempts; `trajectory.segments` is the current attempt."""

    item_id: str
    question: str  # the MCQ text, for the fallback prompt
    trajectory: EvalTrajectory
    system_prompt: str | None
    tool_text: str
    temperature: float
    attempt: int = 0
    iteration: int = 0
    mode: Literal["tool", "simple"] = "tool"
    done: bool = False
    answered: bool = False
    fallback_used: bool = False
    rollbacks: int = 0
    skips: int = 0
    tool_calls: int = 0
    generations: int = 0
    finish_reason: str = ""
    failure: str | None = None
    generate_seconds: float = 0.0
    sandbox_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    @property
    def final_text(self) -> str:
        """The joined text items of the assistant turn (images are not text)."""
        return "".join(s.text for s in self.trajectory.segments).replace(IMAGE, "")

    @property
    def prediction(self) -> str:
        return answers.final_answer(self.final_text)


def new_run(item_id: str, question: str, image: bytes, image_path: str, size: tuple[int, int] | None,
            system_prompt: str | None, settings: LoopSettings) -> ItemRun:
    text = prompts.thyme_user_text(question, image_path, size)
    t = EvalTrajectory(item_id, item_id, question, [image], system=system_prompt, user_text=text)
    return ItemRun(item_id, question, t, system_prompt, text, settings.temperature)


class RollbackRunner:
    """A CodeRunner wrapper: after a failed run the session is rebuilt from the good runs.

    The reference keeps the execution context of the last good run and restores it after
    a failure; replaying the successful code blocks into a new session leaves the same
    variables and files behind without the failed block's side effects.
    """

    def __init__(self, runner: thyme_code.CodeRunner) -> None:
        self.runner = runner
        self.good: dict[str, list[str]] = {}
        self.dirty: set[str] = set()
        self.replays = 0

    async def run(self, trajectory_id: str, code: str, image: bytes | None) -> thyme_code.CodeResult:
        if trajectory_id in self.dirty:
            self.dirty.discard(trajectory_id)
            await self.runner.close(trajectory_id)
            for earlier in self.good.get(trajectory_id, []):
                self.replays += 1
                await self.runner.run(trajectory_id, earlier, image)
        return await self.runner.run(trajectory_id, code, image)

    def succeeded(self, trajectory_id: str, code: str) -> None:
        self.good.setdefault(trajectory_id, []).append(code)

    def failed(self, trajectory_id: str) -> None:
        if self.good.get(trajectory_id):
            self.dirty.add(trajectory_id)

    async def close(self, trajectory_id: str) -> None:
        self.good.pop(trajectory_id, None)
        self.dirty.discard(trajectory_id)
        await self.runner.close(trajectory_id)


def failed_run(obs: Observation) -> bool:
    """What the reference's empty result list means: an error, or nothing came out."""
    return obs.status != "ok" or (not obs.images and not obs.text.strip())


async def run_items(runs: Sequence[ItemRun], engine: Engine, runner: thyme_code.CodeRunner,
                    settings: LoopSettings, seed: int = 0) -> None:
    """Drive every item to an answer (or through the fallback), in place."""
    sandbox = RollbackRunner(runner)
    tool = thyme_code.ThymeCode(sandbox)
    round_index = 0
    try:
        while True:
            active = [r for r in runs if not r.done]
            if not active:
                break
            groups: dict[tuple[str, float], list[ItemRun]] = {}
            for r in active:
                groups.setdefault((r.mode, r.temperature), []).append(r)
            calls: list[tuple[ItemRun, str, str]] = []
            over: list[ItemRun] = []
            for (mode, temperature), members in sorted(groups.items()):
                stops = STOPS if mode == "tool" else ()
                started = time.perf_counter()
                gens = await loop.generate_batch(engine, [r.trajectory for r in members],
                                                 settings.sampling(temperature, stops), seed * 1000 + round_index)
                share = (time.perf_counter() - started) / len(members)
                for r, gen in zip(members, gens):
                    r.generate_seconds += share
                    r.generations += 1
                    if gen is None:
                        _finish(r, "engine_error", r.trajectory.failure)
                    elif r.mode == "simple":
                        _simple_answer(r, gen)
                    else:
                        code = _segment(r, gen)
                        if code:
                            calls.append((r, gen.text, code))
                        elif code == "":
                            over.append(r)
            await asyncio.gather(*(_execute(r, segment, code, tool, sandbox, settings) for r, segment, code in calls),
                                 *(_end_attempt(r, settings, tool, "no_code_no_answer") for r in over))
            for r in active:
                if not r.done and r.mode == "tool" and r.iteration >= settings.max_iterations:
                    await _end_attempt(r, settings, tool, "iteration_limit")
            round_index += 1
    finally:
        await asyncio.gather(*(loop.close_quietly(tool, r.trajectory.id) for r in runs))


def _segment(r: ItemRun, gen: Generation) -> str | None:
    """Handle a tool-mode segment; returns the code to run, "" when the attempt is over."""
    r.iteration += 1
    code = thyme_code.extract_code(gen.text).strip()
    answered = ANSWER_CLOSE in gen.text
    if answered:
        r.trajectory.segments.append(Segment(gen.text, True))
    if code:
        return code
    if answered:
        r.answered = True
        _finish(r, "answer")
        return None
    return ""  # neither code nor answer ("repetition" in the reference): this attempt is over


async def _execute(r: ItemRun, segment: str, code: str, tool: thyme_code.ThymeCode, sandbox: RollbackRunner,
                   settings: LoopSettings) -> None:
    started = time.perf_counter()
    try:
        obs = await tool.run(r.trajectory, _call(code))
    except ToolFault as exc:
        obs = Observation("error", error=f"sandbox service fault: {exc}")
        r.failure = str(exc)
    finally:
        r.sandbox_seconds += time.perf_counter() - started
    r.tool_calls += 1
    answered = ANSWER_CLOSE in segment
    if failed_run(obs):
        r.rollbacks += 1
        if settings.rollback == "replay":
            sandbox.failed(r.trajectory.id)
    else:
        usable = thyme_code.usable_images(obs.images)
        if settings.max_images is not None:
            usable = usable[: max(settings.max_images - r.trajectory.image_count, 0)]
        if obs.images and not usable:
            # the reference's "skip": an image was promised but none can be shown
            r.skips += 1
            if settings.retry_temperature is not None:
                r.temperature = settings.retry_temperature
        else:
            sandbox.succeeded(r.trajectory.id, code)
            r.trajectory.segments.append(Segment(segment, True))
            body = IMAGE * len(usable) if usable else obs.text
            r.trajectory.segments.append(Segment(f"<sandbox_output>{body}</sandbox_output>", False, usable))
    if answered and not r.done:
        r.answered = True
        _finish(r, "answer")


def _call(code: str) -> ToolCall:
    return ToolCall(code, code)


async def _end_attempt(r: ItemRun, settings: LoopSettings, tool: thyme_code.ThymeCode, reason: str) -> None:
    r.trajectory.segments.clear()
    await loop.close_quietly(tool, r.trajectory.id)
    _next_attempt(r, settings, reason)


def _next_attempt(r: ItemRun, settings: LoopSettings, reason: str) -> None:
    """A failed attempt: retry with a fresh context, or fall back, or give up."""
    r.attempt += 1
    r.iteration = 0
    r.finish_reason = reason
    if settings.retry_temperature is not None:
        r.temperature = settings.retry_temperature
    r.trajectory.id = f"{r.item_id}#a{r.attempt}"  # a fresh sandbox session for the new attempt
    if r.attempt < settings.max_retry:
        return
    if settings.fallback:
        r.mode, r.fallback_used = "simple", True
        r.temperature = settings.temperature
        r.trajectory.system = prompts.SIMPLE_SYSTEM_PROMPT
        r.trajectory.user_text = prompts.simple_user_text(r.question)
        return
    _finish(r, "no_answer")


def _simple_answer(r: ItemRun, gen: Generation) -> None:
    text = gen.text if "<answer>" in gen.text else f"<answer>{gen.text}</answer>"
    r.trajectory.segments.append(Segment(text, True))
    _finish(r, "fallback")


def _finish(r: ItemRun, reason: str, failure: str | None = None) -> None:
    r.done, r.finish_reason = True, reason
    if failure is not None:
        r.failure = failure
    r.seconds = time.perf_counter() - r.started
