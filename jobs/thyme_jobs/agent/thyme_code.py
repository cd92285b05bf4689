"""Thyme's tool protocol: Python in `<code>```python ...```</code>`, run in the code sandbox.

The model writes a fenced Python block between `<code>` and `</code>`; the trajectory's
own sandbox session (variables and the input image persist across its rounds, research
notes section 2) runs it; the answer comes back as `<sandbox_output>...</sandbox_output>`
with the images the code saved as `<image>` placeholders, else its printed text. In RL a
failed run is shown to the model (Thyme's trainer does the same: the model learns from
its errors); evaluation rolls failures back instead (see `thyme_jobs.eval`).

The sandbox itself is a `CodeRunner` (`sandbox_runner.SandboxRunner` over the service's
client in the stage programs, fakes in tests).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Literal, Protocol

from thyme_jobs.agent.loop import IMAGE, Segment, Trajectory
from thyme_jobs.agent.protocols import ANSWER_CLOSE, Observation, ToolCall, ToolFault

CODE_OPEN, CODE_CLOSE = "<code>", "</code>"
TEXT_STOPS = (CODE_OPEN, ANSWER_CLOSE)
CODE_STOPS = (CODE_CLOSE,)
#: Qwen2-VL refuses images whose sides differ more than this (Thyme checks the same bound).
MAX_ASPECT_RATIO = 200
# Thyme's own pattern (research notes 2.1; VLMEvalKit uses the same): the first block only
_CODE = re.compile(r"<code>\s*(?:```\s*)?(?:python\s*)?([\s\S]*?)\s*(?:```\s*)?</code>", re.I)


@dataclass
class CodeResult:
    """A sandbox run as the sandbox client reports it (user-code failures are results, not errors)."""

    status: Literal["ok", "error", "timeout", "oom", "killed"]
    stdout: str = ""
    error: str | None = None
    images: list[bytes] = field(default_factory=list)
    wall_seconds: float = 0.0


class SandboxFault(ToolFault):
    """The sandbox service (not the user code) failed: no session, pool exhausted, unreachable."""


class CodeRunner(Protocol):
    async def run(self, trajectory_id: str, code: str, image: bytes | None) -> CodeResult:
        """Run `code` in the trajectory's session (created on first use with `image`)."""
        ...

    async def close(self, trajectory_id: str) -> None: ...


def extract_code(span: str) -> str:
    """The code inside `<code>...</code>`, without a Markdown fence (research notes 2.1).

    >>> extract_code("<code>\\n```python\\nprint(1)\\n```\\n</code>")
    'print(1)'
    """
    match = _CODE.search(span)
    return match.group(1) if match else ""


def observation(result: CodeResult) -> Observation:
    return Observation(result.status, result.stdout, result.error, list(result.images), result.wall_seconds)


def sandbox_feedback(result: Observation, images_left: int, max_chars: int = 2000) -> Segment:
    """The `<sandbox_output>` segment for one run: images as placeholders, else text."""
    if result.status != "ok":
        body = {
            "timeout": "Execution timed out.",
            "oom": "Execution ran out of memory.",
            "killed": "Execution was killed.",
        }.get(result.status) or _clip(result.error or "Execution failed.", max_chars)
        return Segment(f"<sandbox_output>{body}</sandbox_output>", False)
    usable = usable_images(result.images)
    if usable:
        kept = usable[: max(images_left, 0)]
        note = ""
        if len(kept) < len(usable):
            note = f"Image limit reached: {len(usable) - len(kept)} image(s) not shown."
        return Segment(f"<sandbox_output>{IMAGE * len(kept)}{note}</sandbox_output>", False, kept)
    if result.images:
        return Segment("<sandbox_output>The generated image has an invalid size or aspect ratio.</sandbox_output>", False)
    text = _clip(result.text.strip(), max_chars) or "No output captured."
    return Segment(f"<sandbox_output>{text}</sandbox_output>", False)


def usable_images(images: list[bytes]) -> list[bytes]:
    """The images a vision tower can take: decodable, non-empty, aspect ratio within bounds."""
    return [img for img in images if _usable_image(img)]


def _clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max_chars] + "...[truncated]"


def _usable_image(data: bytes) -> bool:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            w, h = img.size
    except Exception:  # any undecodable bytes are simply not an image we can feed back
        return False
    return w > 0 and h > 0 and max(w, h) / min(w, h) <= MAX_ASPECT_RATIO


class ThymeCode:
    """The `thyme` ToolProtocol over a `CodeRunner`: one sandbox session per trajectory id."""

    name = "thyme"
    call_open: str | None = CODE_OPEN
    call_close = CODE_CLOSE
    answer_close = ANSWER_CLOSE

    def __init__(self, runner: CodeRunner) -> None:
        self.runner = runner

    def parse(self, span: str) -> ToolCall | None:
        code = extract_code(span)
        return ToolCall(code, span) if code.strip() else None

    async def run(self, trajectory: Trajectory, call: ToolCall) -> Observation:
        image = trajectory.input_images[0] if trajectory.input_images else None
        return observation(await self.runner.run(trajectory.id, call.payload, image))

    def render(self, result: Observation, images_left: int, max_chars: int = 2000) -> Segment:
        return sandbox_feedback(result, images_left, max_chars)

    def reject(self, span: str) -> Segment:
        return Segment("<sandbox_output>No code found in the <code> block.</sandbox_output>", False)

    async def close(self, trajectory_id: str) -> None:
        await self.runner.close(trajectory_id)
