"""The openthinkimg protocol in the shared agent loop, against real tool workers: a JSON reply runs
its first action, the OBSERVATION turn carries the edited image, the next tool gets that image,
Terminate ends with its answer, malformed replies are told why, an outage ends one trajectory.

The engine is scripted (a model that writes chosen replies is the boundary here); the tool
servers, their HTTP API and the client are real.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence

import pytest
from PIL import Image

from thyme_jobs.agent import loop
from thyme_jobs.agent.loop import Generation, RolloutSettings, Sampling, Trajectory
from thyme_jobs.agent.protocols import text_stops
from thyme_jobs.openthinkimg.protocol import OpenThinkImg
from thyme_tools import worker
from thyme_tools.client import ToolClient
from thyme_tools.serving import InProcessServer
from thyme_tools.settings import WorkerSettings

CROP = '{"thought": "zoom in", "actions": [{"name": "Crop", "arguments": {"param": "[0, 0, 40, 30]", "image": "img_1"}}]}'
LINE = '{"thought": "mark y", "actions": [{"name": "DrawHorizontalLineByY", "arguments": {"param": "y=50"}}]}'
BAD_BOX = '{"thought": "x", "actions": [{"name": "Crop", "arguments": {"param": "[500, 500, 600, 600]"}}]}'
DONE = '{"thought": "read it", "actions": [{"name": "Terminate", "arguments": {"ans": "42"}}]}'


def jpeg(w: int = 160, h: int = 120) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((w, h)).convert("RGB").save(out, "JPEG")
    return out.getvalue()


class Scripted:
    """Each trajectory's replies in order; a reply ends its turn as a real engine reports it ("eos")."""

    def __init__(self, replies: dict[str, list[str]]) -> None:
        self.replies = {k: list(v) for k, v in replies.items()}

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        return [Generation(self.replies[t.id].pop(0), "eos") for t in requests]


@pytest.fixture(scope="module")
def workers():
    servers = {name: InProcessServer(worker.create_app(WorkerSettings(tool=name))).start().wait_ready()
               for name in ("Crop", "DrawHorizontalLineByY")}
    yield {name: s.url for name, s in servers.items()}
    for s in servers.values():
        s.stop()


async def run(workers: dict[str, str], replies: dict[str, list[str]], max_rounds: int = 3,
              addresses: Callable[[dict], dict] = lambda w: w) -> tuple[OpenThinkImg, list[Trajectory]]:
    async with ToolClient(addresses(workers)) as client:
        protocol = OpenThinkImg(client)
        sampling = Sampling(temperature=1.0, max_new_tokens=64, stop=text_stops(protocol))
        trajectories = [Trajectory(tid, "p0", "<image>\nQuestion: what is the value?", [jpeg()], truth="42")
                        for tid in replies]
        await loop.rollout(trajectories, Scripted(replies), protocol,
                           RolloutSettings(max_rounds=max_rounds, max_images=4, text=sampling, code=sampling))
    return protocol, trajectories


async def test_a_tool_call_then_terminate_ends_with_the_answer(workers):
    protocol, [t] = await run(workers, {"a": [CROP, DONE]})
    assert t.finish_reason == "answer" and protocol.answer(t) == "42" and t.tool_calls == 2
    reply, observation = t.segments[0], t.segments[1]
    assert reply.trainable and reply.text == CROP
    assert not observation.trainable and observation.text.startswith(
        "<|im_end|>\n<|im_start|>user\nOBSERVATION:\nCrop model outputs: Image cropped successfully.\n"
        "Please summarize the model outputs and answer my first question.<image><|im_end|>\n<|im_start|>assistant\n")
    assert [Image.open(io.BytesIO(i)).size for i in observation.images] == [(40, 30)]


async def test_the_next_tool_works_on_the_newest_edited_image(workers):
    _, [t] = await run(workers, {"a": [CROP, LINE, DONE]}, max_rounds=4)
    drawn = t.segments[3].images
    assert [Image.open(io.BytesIO(i)).size for i in drawn] == [(40, 30)]  # the crop, not the 160x120 input


async def test_tool_errors_are_observations_and_malformed_replies_are_told_why(workers):
    protocol, [bad_box, prose] = await run(workers, {"box": [BAD_BOX, DONE], "prose": ["It is 42.", DONE]})
    assert bad_box.finish_reason == "answer" and bad_box.sandbox_errors == 1
    assert "outside the 160x120 image" in bad_box.segments[1].text and not bad_box.segments[1].images
    assert prose.finish_reason == "answer" and protocol.answer(prose) == "42"
    assert "could not be run: no JSON object" in prose.segments[1].text


async def test_a_tool_nobody_serves_ends_that_trajectory_only(workers):
    protocol, [lost, fine] = await run(workers, {"lost": [LINE], "fine": [CROP, DONE]},
                                       addresses=lambda w: {"Crop": w["Crop"]})
    assert lost.finish_reason == "sandbox_fault" and "DrawHorizontalLineByY" in lost.failure
    assert fine.finish_reason == "answer" and protocol.answer(fine) == "42"


async def test_the_round_limit_ends_a_trajectory_that_never_terminates(workers):
    protocol, [t] = await run(workers, {"a": [CROP, CROP, CROP]}, max_rounds=3)
    assert t.finish_reason == "round_limit" and protocol.answer(t) is None
