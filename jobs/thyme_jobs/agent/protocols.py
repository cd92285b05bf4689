"""The tool protocol: how a model's tool call is found in its text, run, and answered.

Every agent loop here (RL rollouts, evaluation) does the same thing: generate until a stop
string, hand the span to a tool, append the tool's observation (no loss on it), repeat.
What differs between Thyme, DeepEyes and OpenThinkIMG is only this protocol:

| protocol      | the model writes                               | the tool                  | observation            |
| ------------- | ---------------------------------------------- | ------------------------- | ---------------------- |
| thyme         | `<code>```python ...```</code>`                | the gVisor code sandbox   | `<sandbox_output>...`  |
| deepeyes      | `<tool_call>{"name": ..., "arguments": ...}</tool_call>` | a crop of the input image | a tool-response turn |
| openthinkimg  | `{"thought": ..., "actions": [...]}`           | an HTTP vision tool server| an `OBSERVATION:` turn |

A protocol implements `ToolProtocol`; `thyme_code.ThymeCode` is the first one.

How a protocol declares its stop strings
    `call_open` is the string that starts a call (`"<code>"`, `"<tool_call>"`), or None when
    a call has no opening tag the loop should stop at (OpenThinkIMG's JSON). `call_close`
    ends a call (`"</code>"`, `"</tool_call>"`; for a protocol whose calls run to the end
    of the turn, the chat template's end-of-turn string). `answer_close` ends the
    trajectory (`"</answer>"`). From these, `text_stops` are what a text phase stops at
    (`call_open` when there is one, so a loop can switch temperature inside the call, else
    `call_close`; plus `answer_close`) and `call_stops` what the call phase stops at.
    Engines get them as plain strings in `Sampling.stop` and keep the stop in the text.

How a protocol parses a segment
    `parse(span)` gets the text of the current call, from `call_open` (prepended by the
    loop when the text phase stopped there) up to and including `call_close`, and returns
    a `ToolCall` (its `payload` is whatever `run` needs: code, a parsed JSON dict) or None
    when the span holds no usable call (empty code, malformed JSON). Parsing is pure.

How it runs a call
    `run(trajectory, call)` is async and runs the call for that trajectory; state that
    lives across a trajectory's rounds (a sandbox session, the current image) is keyed by
    `trajectory.id` and dropped in `close(trajectory_id)`, which the loop always calls.
    A failure of the user's call (code that raises, a bbox outside the image) is an
    `Observation` with a non-"ok" status; a failure of the service itself (unreachable,
    pool exhausted) raises `ToolFault`, which ends that one trajectory only.

How it renders the observation
    `render(observation, images_left, max_chars)` returns the non-trainable `Segment` appended to the
    assistant text: its `text` is raw chat text with one `<image>` placeholder per entry of
    `images` (the encoder turns each into the model's vision block). A protocol whose
    observation is a new turn writes the turn markup itself, e.g. DeepEyes:
    `"<|im_end|>\\n<|im_start|>user\\n<tool_response><image>...</tool_response><|im_end|>\\n<|im_start|>assistant\\n"`.
    `images_left` is how many more images the trajectory may hold; a protocol keeps at
    most that many and says so in the text; `max_chars` bounds the text it shows.
    `reject(span)` is the observation for a span that `parse` found no call in (so the
    model learns why nothing ran).

Rounds, temperatures, the image limit and ending a trajectory are the loop's business
(`loop.rollout` for RL, the evaluation stage's attempt policy); a protocol never
generates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from thyme_jobs.agent.loop import Segment, Trajectory

ANSWER_CLOSE = "</answer>"

Status = Literal["ok", "error", "timeout", "oom", "killed"]


class ToolFault(RuntimeError):
    """The tool service (not the model's call) failed: unreachable, no session, pool exhausted."""


@dataclass(frozen=True)
class ToolCall:
    """A call found in a segment: `payload` is what the protocol's `run` takes."""

    payload: Any
    span: str = ""


@dataclass
class Observation:
    """A tool's answer as the loop needs it (failures of the call are observations, not errors)."""

    status: Status
    text: str = ""
    error: str | None = None
    images: list[bytes] = field(default_factory=list)
    wall_seconds: float = 0.0
    #: whether an image result was expected but none was usable (Thyme's "skip" case)
    missing_images: bool = False


class ToolProtocol(Protocol):
    """One tool-calling convention; see the module docstring for the contract."""

    name: str
    call_open: str | None
    call_close: str
    answer_close: str

    def parse(self, span: str) -> ToolCall | None: ...

    async def run(self, trajectory: "Trajectory", call: ToolCall) -> Observation: ...

    def render(self, observation: Observation, images_left: int, max_chars: int) -> "Segment": ...

    def reject(self, span: str) -> "Segment": ...

    async def close(self, trajectory_id: str) -> None: ...


def text_stops(protocol: Any) -> tuple[str, ...]:
    """What a text phase stops at: the call's opening (else its close) and the answer's close."""
    first = protocol.call_open or protocol.call_close
    return (first, protocol.answer_close)


def call_stops(protocol: Any) -> tuple[str, ...]:
    return (protocol.call_close,)
