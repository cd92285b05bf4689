"""The multi-turn rollout: text at one temperature, code at another, the sandbox in between.

One round of a trajectory (research notes section 4.2, without the reference's waste):

1. generate at the text temperature until `<code>`, `</answer>` or the end of the turn;
2. after `<code>`, continue at the code temperature (0.0: greedy) until `</code>`;
3. run the code in the trajectory's own sandbox session and append
   `<sandbox_output>...</sandbox_output>`: images as `<image>` placeholders (the encoder
   turns them into image inputs), text as text.

A trajectory ends at `</answer>`, the end of its turn, the token limit, the round limit,
an unclosed `<code>`, or a sandbox timeout/OOM/kill or service fault. Finished
trajectories are never sent to the engine again. The sandbox calls of a round run
concurrently. A failure is recorded on its own trajectory (`finish_reason`, `failure`),
which is then scored like any other; it never touches the rest of the batch.

The engine and the sandbox are protocols here (`Engine`, `CodeRunner`), so the loop is
tested with scripted fakes; `engines.py` and `sandbox_runner.py` hold the real ones.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

log = logging.getLogger(__name__)

CODE_OPEN, CODE_CLOSE, ANSWER_CLOSE = "<code>", "</code>", "</answer>"
IMAGE = "<image>"  # Thyme's placeholder; the encoder expands it into the model's image tokens
TEXT_STOPS = (CODE_OPEN, ANSWER_CLOSE)
CODE_STOPS = (CODE_CLOSE,)
#: Qwen2-VL refuses images whose sides differ more than this (Thyme checks the same bound).
MAX_ASPECT_RATIO = 200
_CODE = re.compile(r"<code>\s*(?:```\s*)?(?:python\s*)?([\s\S]*?)\s*(?:```\s*)?</code>", re.I)


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


@dataclass
class CodeResult:
    """A sandbox run as the rollout needs it (user-code failures are results, not errors)."""

    status: Literal["ok", "error", "timeout", "oom", "killed"]
    stdout: str = ""
    error: str | None = None
    images: list[bytes] = field(default_factory=list)
    wall_seconds: float = 0.0


class SandboxFault(RuntimeError):
    """The sandbox service (not the user code) failed: no session, pool exhausted, unreachable."""


class CodeRunner(Protocol):
    async def run(self, trajectory_id: str, code: str, image: bytes | None) -> CodeResult:
        """Run `code` in the trajectory's session (created on first use with `image`)."""
        ...

    async def close(self, trajectory_id: str) -> None: ...


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


def extract_code(span: str) -> str:
    """The code inside `<code>...</code>`, without a Markdown fence (research notes 2.1).

    >>> extract_code("<code>\\n```python\\nprint(1)\\n```\\n</code>")
    'print(1)'
    """
    match = _CODE.search(span)
    return match.group(1) if match else ""


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


def sandbox_feedback(result: CodeResult, images_left: int, max_chars: int = 2000) -> Segment:
    """The `<sandbox_output>` segment for one run: images as placeholders, else text."""
    if result.status != "ok":
        body = {
            "timeout": "Execution timed out.",
            "oom": "Execution ran out of memory.",
            "killed": "Execution was killed.",
        }.get(result.status) or _clip(result.error or "Execution failed.", max_chars)
        return Segment(f"<sandbox_output>{body}</sandbox_output>", False)
    usable = [img for img in result.images if _usable_image(img)]
    if usable:
        kept = usable[: max(images_left, 0)]
        note = ""
        if len(kept) < len(usable):
            note = f"Image limit reached: {len(usable) - len(kept)} image(s) not shown."
        return Segment(f"<sandbox_output>{IMAGE * len(kept)}{note}</sandbox_output>", False, kept)
    if result.images:
        return Segment("<sandbox_output>The generated image has an invalid size or aspect ratio.</sandbox_output>", False)
    text = _clip(result.stdout.strip(), max_chars) or "No output captured."
    return Segment(f"<sandbox_output>{text}</sandbox_output>", False)


def _clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max_chars] + "...[truncated]"


def _usable_image(data: bytes) -> bool:
    """Decodable, non-empty, and within the aspect ratio the vision tower accepts."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            w, h = img.size
    except Exception:  # any undecodable bytes are simply not an image we can feed back
        return False
    return w > 0 and h > 0 and max(w, h) / min(w, h) <= MAX_ASPECT_RATIO


# ---- the loop ---------------------------------------------------------------------------


async def rollout(
    trajectories: Sequence[Trajectory], engine: Engine, runner: CodeRunner, settings: RolloutSettings, seed: int = 0
) -> None:
    """Run every trajectory to its end, in place; sessions are closed whatever happens."""
    try:
        for round_index in range(settings.max_rounds):
            active = [t for t in trajectories if not t.finished]
            if not active:
                break
            round_seed = seed * 1000 + round_index
            coding = []
            for t, gen in zip(active, await _generate(engine, active, settings.text, round_seed)):
                if gen is None:
                    continue
                t.rounds += 1
                t.segments.append(Segment(gen.text, True))
                if gen.stop == CODE_OPEN:
                    coding.append(t)
                elif gen.stop == ANSWER_CLOSE:
                    t.finish("answer")
                else:
                    t.finish("length" if gen.finish_reason == "length" else "end_of_turn")
            ready = []
            for t, gen in zip(coding, await _generate(engine, coding, settings.code, round_seed)):
                if gen is None:
                    continue
                t.segments.append(Segment(gen.text, True))
                if gen.stop == CODE_CLOSE:
                    ready.append(t)
                else:
                    t.finish("unclosed_code", "the model opened <code> and never closed it")
            await asyncio.gather(*(_execute(t, runner, settings) for t in ready))
            for t in active:
                if not t.finished and t.rounds >= settings.max_rounds:
                    t.finish("round_limit")
    finally:
        await asyncio.gather(*(_close(runner, t.id) for t in trajectories))


async def _generate(
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


async def _execute(t: Trajectory, runner: CodeRunner, settings: RolloutSettings) -> None:
    code = extract_code(CODE_OPEN + t.segments[-1].text)
    if not code.strip():
        t.sandbox_errors += 1
        t.segments.append(Segment("<sandbox_output>No code found in the <code> block.</sandbox_output>", False))
        return
    started = time.perf_counter()
    try:
        result = await runner.run(t.id, code, t.input_images[0] if t.input_images else None)
    except SandboxFault as exc:
        t.sandbox_errors += 1
        t.finish("sandbox_fault", str(exc))
        return
    finally:
        t.sandbox_seconds += time.perf_counter() - started
    t.tool_calls += 1
    if result.status != "ok":
        t.sandbox_errors += 1
    t.segments.append(sandbox_feedback(result, settings.max_images - t.image_count, settings.max_output_chars))
    if result.status in ("timeout", "oom", "killed"):
        t.finish(f"sandbox_{result.status}", f"the sandbox reported {result.status}")


async def _close(runner: CodeRunner, trajectory_id: str) -> None:
    try:
        await runner.close(trajectory_id)
    except Exception as exc:  # a session that will not close is the pool's problem, not the batch's
        log.warning("closing the sandbox session of %s failed: %s", trajectory_id, exc)
