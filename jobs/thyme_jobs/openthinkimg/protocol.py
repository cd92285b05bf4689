"""The `openthinkimg` tool protocol: a JSON reply per turn, run on a vision tool server.

The model ends each turn with a reply `{"thought": ..., "actions": [{"name": ..., "arguments":
{...}}]}` (`actions.parse_reply`); its first action runs on the tool's worker (a
`thyme_tools` server, through `ToolCaller`), and the answer comes back as OpenThinkIMG's
`OBSERVATION:` user turn with the edited image, after which the model speaks again. A
`Terminate` action ends the trajectory with its `ans` (kept in `answers`).

How it sits in the shared loop (`thyme_jobs.agent.loop`): `call_open` is None, so a call is
the whole turn and `call_close` is the chat template's end of turn (`<|im_end|>` for Qwen).
The engines decode with `skip_special_tokens`, so that token is not in the assistant text
(the turn ends as "eos"); every observation segment therefore starts by closing the turn.
There is no answer tag (`answer_close` is a string no model writes): Terminate is an action.

Kept from OpenThinkIMG for fidelity: only `actions[0]` runs; the tool gets the newest edited
image of the trajectory (else the input image) whatever image the model names; the
observation wording. Fixed: the image goes to every tool that takes one (OpenThinkIMG's
inferencer sent none to GroundingDINO); ZoomInSubfigure's answer is one image; a reply that
does not parse is told why instead of re-sending the question; a worker outage ends that
trajectory as a fault (`ToolFault`) rather than becoming an observation.
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

from thyme_jobs.agent.loop import IMAGE, Segment, Trajectory
from thyme_jobs.agent.protocols import Observation, ToolCall, ToolFault
from thyme_jobs.openthinkimg import actions
from thyme_tools.client import ToolUnavailable

END_OF_TURN = "<|im_end|>"
USER_TURN = "<|im_start|>user\n"
ASSISTANT_TURN = "<|im_start|>assistant\n"
NO_ANSWER_TAG = "<|openthinkimg-no-answer-tag|>"
REPLY_FORMAT = '{"thought": "...", "actions": [{"name": "<tool>", "arguments": {"param": "..."}}]}'


class ToolCaller(Protocol):
    """What runs a tool: `thyme_tools.client.ToolClient` (it raises `ToolUnavailable` on an outage)."""

    async def call(self, tool: str, param: str | None = None, image: bytes | str | None = None,
                   **extra: Any) -> Any: ...


class OpenThinkImg:
    name = "openthinkimg"
    call_open: str | None = None
    calls_at_end_of_turn = True  # the whole reply is the call (agent.protocols)

    def __init__(self, tools: ToolCaller, end_of_turn: str = END_OF_TURN, user_turn: str = USER_TURN,
                 assistant_turn: str = ASSISTANT_TURN) -> None:
        self.tools = tools
        self.call_close, self.answer_close = end_of_turn, NO_ANSWER_TAG
        self.user_turn, self.assistant_turn = user_turn, assistant_turn
        self.answers: dict[str, str] = {}  # trajectory id -> its Terminate answer
        self._images: dict[str, bytes] = {}  # trajectory id -> newest edited image

    def parse(self, span: str) -> ToolCall | None:
        reply = actions.parse_reply(span)
        return ToolCall(reply, span) if reply.action is not None else None

    async def run(self, trajectory: Trajectory, call: ToolCall) -> Observation:
        reply: actions.Reply = call.payload
        action = reply.action
        if reply.terminates:
            self.answers[trajectory.id] = actions.terminate_answer(reply, call.span) or ""
            trajectory.finish("answer")
            return Observation("ok", "")
        image = self._images.get(trajectory.id) or (trajectory.input_images[0] if trajectory.input_images else None)
        try:
            answer = await self.tools.call(action.name, image=image, **actions.tool_request(action))
        except ToolUnavailable as exc:  # unreachable, full or not ready: a fault, not an observation
            raise ToolFault(str(exc)) from None
        text = actions.observation_text(action.name, answer.text)
        if answer.error_code:
            return Observation("error", text, error=text)
        images = [base64.b64decode(answer.edited_image)] if answer.edited_image else []
        if images:
            self._images[trajectory.id] = images[0]
        return Observation("ok", text, images=images)

    def render(self, observation: Observation, images_left: int, max_chars: int = 2000) -> Segment:
        if not observation.text and not observation.images:
            return Segment("", False)  # Terminate: nothing follows
        kept = observation.images[: max(images_left, 0)]
        note = "" if len(kept) == len(observation.images) else "\n(Image limit reached: the edited image is not shown.)"
        text = observation.text if len(observation.text) <= max_chars else observation.text[:max_chars] + "...[truncated]"
        return Segment(self._turn(text + note + IMAGE * len(kept)), False, kept)

    def reject(self, span: str) -> Segment:
        reply = actions.parse_reply(span)
        why = reply.error or "it names no action"
        return Segment(self._turn(f"OBSERVATION:\nYour reply could not be run: {why}. Reply with JSON only, "
                                  f"as {REPLY_FORMAT}, or call Terminate with your answer in \"ans\"."), False)

    async def close(self, trajectory_id: str) -> None:
        self._images.pop(trajectory_id, None)

    def answer(self, trajectory: Trajectory) -> str | None:
        """The trajectory's final answer: its Terminate `ans`, else OpenThinkIMG's regex over the text."""
        if trajectory.id in self.answers:
            return self.answers[trajectory.id]
        return actions.terminate_answer(actions.parse_reply(""), trajectory.completion)

    def _turn(self, body: str) -> str:
        return f"{self.call_close}\n{self.user_turn}{body}{self.call_close}\n{self.assistant_turn}"
