"""The multi-turn agent loop: generate to a stop string, run the tool, append its output, repeat.

One round of a trajectory (research notes section 4.2, without the reference's waste):

1. generate at the text temperature until the protocol's call opening (Thyme: `<code>`),
   `</answer>` or the end of the turn;
2. after the opening, continue at the call temperature (Thyme's 0.0: greedy) until the
   call's close (`</code>`);
3. run the call through the tool protocol (Thyme: the trajectory's own sandbox session)
   and append the protocol's observation, which carries no loss (Thyme:
   `<sandbox_output>...</sandbox_output>`, images as `<image>` placeholders that the
   encoder turns into image inputs).

A trajectory ends at `</answer>`, the end of its turn, the token limit, the round limit,
an unclosed call, or a tool timeout/OOM/kill or service fault. Finished trajectories are
never sent to the engine again. The tool calls of a round run concurrently. A failure is
recorded on its own trajectory (`finish_reason`, `failure`), which is then scored like
any other; it never touches the rest of the batch.

The engine and the tool are protocols (`Engine` here, `protocols.ToolProtocol`), so the
loop is tested with scripted fakes; `engines.py` and `thyme_code.py` hold the real ones.
RL rollouts run `rollout`; evaluation runs its own attempt/rollback policy over the same
`Trajectory`, `Engine` and protocols.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from thyme_jobs.agent.protocols import ToolFault, ToolProtocol

log = logging.getLogger(__name__)

IMAGE = "<image>"  # Thyme's placeholder; the encoder expands it into the model's image tokens
#: tool statuses after which a trajectory cannot go on (its tool state is gone)
TERMINAL_STATUSES = ("timeout", "oom", "killed")


# ---- what the loop talks to -------------------------------------------------------------


@dataclass(frozen=True)
class Sampling:
    """One generation call's settings; temperature 0 means greedy."""

    temperature: float
    max_new_tokens: int
    stop: tuple[str, ...]
    top_p: float = 1.0
    top_k: int = 0


@dataclass
class Generation:
    """What an engine returns per request: text up to and including the first stop string."""

    text: str
    finish_reason: Literal["stop", "eos", "length"]
    stop: str | None = None


class Engine(Protocol):
    def generate(self, requests: Sequence["Trajectory"], sampling: Sampling, seed: int) -> list[Generation]:
        """Continue each trajectory's assistant turn; one Generation per request, in order."""
        ...


# ---- the trajectory ---------------------------------------------------------------------


@dataclass
class Segment:
    """A piece of the assistant turn; `trainable` when the policy sampled it."""

    text: str
    trainable: bool
    images: list[bytes] = field(default_factory=list)


@dataclass
class Trajectory:
    id: str
    prompt_id: str
    question: str  # with one `<image>` per input image
    input_images: list[bytes]
    truth: str = ""
    segments: list[Segment] = field(default_factory=list)
    finished: bool = False
    finish_reason: str | None = None
    failure: str | None = None
    rounds: int = 0
    tool_calls: int = 0
    sandbox_errors: int = 0
    sandbox_seconds: float = 0.0

    @property
    def completion(self) -> str:
        return "".join(s.text for s in self.segments)

    @property
    def image_count(self) -> int:
        return len(self.input_images) + sum(len(s.images) for s in self.segments)

    def finish(self, reason: str, failure: str | None = None) -> None:
        self.finished, self.finish_reason = True, reason
        if failure is not None:
            self.failure = failure


@dataclass(frozen=True)
class RolloutSettings:
    max_rounds: int
    max_images: int
    text: Sampling
    code: Sampling
    max_output_chars: int = 2000


# ---- pure pieces ------------------------------------------------------------------------


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, str | None]:
    """Text up to and including the earliest stop string, and which one it was.

    >>> cut_at_stop("look <code> more", ("<code>", "</answer>"))
    ('look <code>', '<code>')
    >>> cut_at_stop("no stop here", ("<code>",))
    ('no stop here', None)
    """
    best: tuple[int, str] | None = None
    for stop in stops:
        at = text.find(stop)
        if at >= 0 and (best is None or at < best[0]):
            best = (at, stop)
    if best is None:
        return text, None
    return text[: best[0] + len(best[1])], best[1]


# ---- the loop ---------------------------------------------------------------------------


async def rollout(
    trajectories: Sequence[Trajectory], engine: Engine, tool: ToolProtocol, settings: RolloutSettings, seed: int = 0
) -> None:
    """Run every trajectory to its end, in place; tool state is closed whatever happens."""
    try:
        for round_index in range(settings.max_rounds):
            active = [t for t in trajectories if not t.finished]
            if not active:
                break
            round_seed = seed * 1000 + round_index
            calling = []
            for t, gen in zip(active, await generate_batch(engine, active, settings.text, round_seed)):
                if gen is None:
                    continue
                t.rounds += 1
                t.segments.append(Segment(gen.text, True))
                if tool.call_open is not None and gen.stop == tool.call_open:
                    calling.append(t)
                elif gen.stop == tool.answer_close:
                    t.finish("answer")
                elif tool.call_open is None and (gen.stop == tool.call_close or (
                        gen.finish_reason == "eos" and getattr(tool, "calls_at_end_of_turn", False))):
                    # a call that runs to the end of the turn (protocols.ToolProtocol)
                    calling.append(t)
                else:
                    t.finish("length" if gen.finish_reason == "length" else "end_of_turn")
            opened = [t for t in calling if tool.call_open is not None]
            ready = [t for t in calling if tool.call_open is None]
            for t, gen in zip(opened, await generate_batch(engine, opened, settings.code, round_seed)):
                if gen is None:
                    continue
                t.segments.append(Segment(gen.text, True))
                if gen.stop == tool.call_close:
                    ready.append(t)
                else:
                    t.finish("unclosed_code", f"the model opened {tool.call_open} and never closed it")
            await asyncio.gather(*(_execute(t, tool, settings) for t in ready))
            for t in active:
                if not t.finished and t.rounds >= settings.max_rounds:
                    t.finish("round_limit")
    finally:
        await asyncio.gather(*(close_quietly(tool, t.id) for t in trajectories))


async def generate_batch(
    engine: Engine, batch: list[Trajectory], sampling: Sampling, seed: int
) -> list[Generation | None]:
    """The batch in one engine call; if that fails, one call each, so a bad one fails alone."""
    if not batch:
        return []
    try:
        return list(await asyncio.to_thread(engine.generate, batch, sampling, seed))
    except Exception as exc:  # isolate the culprit below rather than lose the batch
        log.warning("batched generation of %d trajectories failed (%s); retrying one by one", len(batch), exc)
    out: list[Generation | None] = []
    for t in batch:
        try:
            out.append((await asyncio.to_thread(engine.generate, [t], sampling, seed))[0])
        except Exception as exc:  # this trajectory alone is broken: mark it, keep the rest
            log.warning("trajectory %s: generation failed: %s", t.id, exc)
            t.finish("engine_error", f"{type(exc).__name__}: {exc}")
            out.append(None)
    return out


def call_span(t: Trajectory, tool: ToolProtocol) -> str:
    """The current call's text: the last segment, with the opening the text phase stopped at."""
    last = t.segments[-1].text
    if tool.call_open is None:
        return last
    return tool.call_open + last


async def _execute(t: Trajectory, tool: ToolProtocol, settings: RolloutSettings) -> None:
    call = tool.parse(call_span(t, tool))
    if call is None:
        t.sandbox_errors += 1
        t.segments.append(tool.reject(call_span(t, tool)))
        return
    started = time.perf_counter()
    try:
        observation = await tool.run(t, call)
    except ToolFault as exc:
        t.sandbox_errors += 1
        t.finish("sandbox_fault", str(exc))
        return
    finally:
        t.sandbox_seconds += time.perf_counter() - started
    t.tool_calls += 1
    if observation.status != "ok":
        t.sandbox_errors += 1
    t.segments.append(tool.render(observation, settings.max_images - t.image_count, settings.max_output_chars))
    if observation.status in TERMINAL_STATUSES:
        t.finish(f"sandbox_{observation.status}", f"the sandbox reported {observation.status}")


async def close_quietly(tool: ToolProtocol, trajectory_id: str) -> None:
    try:
        await tool.close(trajectory_id)
    except Exception as exc:  # a session that will not close is the pool's problem, not the batch's
        log.warning("closing the tool state of %s failed: %s", trajectory_id, exc)
