"""DeepEyes as a tool protocol of the shared agent loop (`thyme_jobs.agent.protocols`).

A turn is generated at one temperature until `</tool_call>` or `</answer>` (there is no
opening tag to switch temperature at: `call_open` is None, so the whole turn is the
call's span); `</tool_call>` is a stop string, which is what keeps the model from running
on into an invented tool answer (DeepEyes issues #126, #131). The call is read by
`toolcalls.py`, the crop taken by `tool.ZoomTool` from the trajectory's input image, and
the observation is the tool-response user turn of `turns.py`, carrying no loss.

Where the crop runs, and why: here, in the process that runs the agent loop (the RL
trainer or the evaluator), not in the sandbox or a tool service. The zoom executes no
model-written code (the model only picks four numbers, which `boxes.py` checks), so there
is nothing to isolate; the image is already in this process's memory; and a crop takes
milliseconds, less than an HTTP round trip. verl also crops inline in its tool's
`execute`. So a DeepEyes run needs no sandbox Deployment.

Bad calls never raise: a span with no usable call gets `reject` (the parser's error
text); a box the rules refuse is an "error" observation. Both count in the trajectory's
`sandbox_errors`, which is what the reward charges the -0.05 step penalty for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from thyme_jobs.agent.loop import Segment, Trajectory
from thyme_jobs.agent.protocols import ANSWER_CLOSE, Observation, ToolCall
from thyme_jobs.deepeyes import boxes, toolcalls, turns


class DeepEyesZoom:
    """`image_zoom_in_tool` behind `ToolProtocol`; holds no per-trajectory state."""

    name = "deepeyes"
    call_open: str | None = None
    call_close = toolcalls.CALL_CLOSE
    answer_close = ANSWER_CLOSE

    def __init__(self, min_pixels: int = boxes.DEFAULT_MIN_PIXELS, max_pixels: int = boxes.DEFAULT_MAX_PIXELS) -> None:
        self.min_pixels, self.max_pixels = min_pixels, max_pixels

    @classmethod
    def for_processor(cls, processor: Any) -> "DeepEyesZoom":
        """The tool for the frame `processor` shows images in (its image processor's pixel budget)."""
        image_processor = getattr(processor, "image_processor", processor)
        size = getattr(image_processor, "size", None) or {}
        low = size.get("shortest_edge") or getattr(image_processor, "min_pixels", None) or boxes.DEFAULT_MIN_PIXELS
        high = size.get("longest_edge") or getattr(image_processor, "max_pixels", None) or boxes.DEFAULT_MAX_PIXELS
        return cls(int(low), int(high))

    def parse(self, span: str) -> ToolCall | None:
        try:
            call = toolcalls.parse_turn(span)
        except toolcalls.ToolCallError:
            return None
        return None if call is None else ToolCall(call, span)

    async def run(self, trajectory: Trajectory, call: ToolCall) -> Observation:
        zoom: toolcalls.ZoomCall = call.payload
        if not trajectory.input_images:
            return Observation("error", error="Error: there is no image to zoom in on.")
        try:
            # a large original decodes in tens of milliseconds: off the event loop, so the
            # round's other trajectories are not held up
            crop, _ = await asyncio.to_thread(boxes.zoom, trajectory.input_images[0], zoom.bbox,
                                              min_pixels=self.min_pixels, max_pixels=self.max_pixels)
        except boxes.BoxRejected as exc:
            return Observation("error", error=str(exc))
        except OSError as exc:
            return Observation("error", error=f"Error processing image zoom-in: {exc}")
        return Observation("ok", text=turns.zoom_text(zoom.bbox, zoom.label), images=[crop])

    def render(self, observation: Observation, images_left: int, max_chars: int) -> Segment:
        if observation.status != "ok":
            return Segment(turns.observation(_clip(observation.error or "Error: the zoom failed.", max_chars),
                                             with_image=False), False)
        if observation.images and images_left <= 0:
            note = observation.text + " The image limit is reached: the crop is not shown."
            return Segment(turns.observation(note, with_image=False), False)
        return Segment(turns.observation(_clip(observation.text, max_chars), with_image=bool(observation.images)),
                       False, list(observation.images[:1]))

    def reject(self, span: str) -> Segment:
        try:
            toolcalls.parse_turn(span)
            message = "Error: no tool call found."
        except toolcalls.ToolCallError as exc:
            message = str(exc)
        return Segment(turns.observation(message, with_image=False), False)

    async def close(self, trajectory_id: str) -> None:
        """Nothing to release: every call crops the input image afresh."""


def _clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max_chars] + "...[truncated]"
