"""The rollout with the tiny VL model, the real sandbox service and a GRPO step on the result."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from thyme_jobs.agent import loop as rollout
from thyme_jobs.agent import thyme_code
from thyme_jobs.agent.encoding import TrajectoryEncoder
from thyme_jobs.agent.engines import TransformersEngine
from thyme_jobs.agent.loop import Generation, Sampling, Trajectory
from thyme_jobs.agent.sandbox_runner import SandboxRunner
from thyme_jobs.agent.thyme_code import CodeResult
from thyme_jobs.rl import grpo

CROP = ("\n```python\nimage = Image.open(image_path)\nout = image.crop((0, 0, 160, 120))\n"
        "processed_path = '/mnt/data/temp_processed_images/zoom.jpg'\nout.save(processed_path)\n"
        "print(processed_path)\n```\n</code>")
CODE_BY_ID = {
    "crop": CROP,
    "spin": "\nwhile True:\n    pass\n</code>",
    "raise": "\nprint(1 / 0)\n</code>",
    "compute": "\nprint(round(2 / 3, 4))\n</code>",
}


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from thyme_jobs.modelio.processor import load_processor
    from transformers import AutoModelForImageTextToText

    processor = load_processor(tiny_model_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir, dtype=torch.float32)
    return processor, model


class ForcedText:
    """Text phase scripted (a random model never writes `<code>`), code phase by `inner`."""

    def __init__(self, inner=None) -> None:
        self.inner = inner

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        if sampling.stop == thyme_code.CODE_STOPS:
            if self.inner is not None:
                return self.inner.generate(requests, sampling, seed)
            return [Generation(CODE_BY_ID[t.id.split("-")[0]], "stop", "</code>") for t in requests]
        out = []
        for t in requests:
            if "<sandbox_output>" in t.completion:
                out.append(Generation(" done.</think><answer>B</answer>", "stop", "</answer>"))
            else:
                out.append(Generation("<think>I will look closer. <code>", "stop", "<code>"))
        return out


class NoSandbox:
    async def run(self, trajectory_id: str, code: str, image: bytes | None) -> CodeResult:
        return CodeResult("error", error="not under test")

    async def close(self, trajectory_id: str) -> None:
        pass


def settings(max_new_tokens: int, max_rounds: int = 3) -> rollout.RolloutSettings:
    return rollout.RolloutSettings(
        max_rounds=max_rounds, max_images=10,
        text=Sampling(1.0, max_new_tokens, thyme_code.TEXT_STOPS), code=Sampling(0.0, max_new_tokens, thyme_code.CODE_STOPS),
    )


async def test_code_spans_at_temperature_zero_are_deterministic(tiny, photo) -> None:
    processor, model = tiny
    engine = ForcedText(TransformersEngine(model, TrajectoryEncoder(processor, "Be brief.")))
    spans = []
    for seed in (1, 2, 3):
        t = Trajectory(f"t-{seed}", "p", "<image>\nWhat is it?", [photo])
        await rollout.rollout([t], engine, thyme_code.ThymeCode(NoSandbox()), settings(max_new_tokens=12, max_rounds=1), seed=seed)
        assert t.segments[0].text == "<think>I will look closer. <code>"
        spans.append(t.segments[1].text)
    assert spans[0] and spans[0] == spans[1] == spans[2]


def test_text_at_temperature_one_is_sampled(tiny, photo) -> None:
    processor, model = tiny
    engine = TransformersEngine(model, TrajectoryEncoder(processor, None))
    texts = {
        engine.generate([Trajectory("t", "p", "<image>\nWhat?", [photo])], Sampling(1.0, 12, thyme_code.TEXT_STOPS), seed)[0].text
        for seed in range(4)
    }
    assert len(texts) > 1


def test_the_engine_stops_on_a_stop_string(tiny, photo) -> None:
    processor, model = tiny
    engine = TransformersEngine(model, TrajectoryEncoder(processor, None))
    # Greedy continuation of a fixed context; whatever it is, a stop string chosen from it must cut it there.
    base = engine.generate([Trajectory("t", "p", "<image>\nWhat?", [photo])], Sampling(0.0, 12, ()), 0)[0]
    assert base.finish_reason in ("length", "eos") and base.text
    stop = base.text[len(base.text) // 2 : len(base.text) // 2 + 2] or base.text
    cut = engine.generate([Trajectory("t", "p", "<image>\nWhat?", [photo])], Sampling(0.0, 12, (stop,)), 0)[0]
    assert cut.finish_reason == "stop" and cut.stop == stop and cut.text.endswith(stop)
    assert base.text.startswith(cut.text)


async def test_rollout_through_the_real_sandbox_then_a_grpo_step(tiny, photo, sandbox_url) -> None:
    from thyme_sandbox.client import SandboxClient

    processor, model = tiny
    batch = [Trajectory(f"{name}-0", "p", "<image>\nWhat is in the corner?", [photo], "B") for name in CODE_BY_ID]
    async with SandboxClient(sandbox_url) as client:
        runner = SandboxRunner(client)
        await rollout.rollout(batch, ForcedText(), thyme_code.ThymeCode(runner), settings(max_new_tokens=16))
    crop, spin, raised, compute = batch
    assert crop.finish_reason == "answer" and crop.image_count == 2, crop.completion
    assert "<sandbox_output><image></sandbox_output>" in crop.completion
    assert spin.finish_reason == "sandbox_timeout" and spin.failure and spin.sandbox_errors == 1
    assert raised.finish_reason == "answer" and "ZeroDivisionError" in raised.completion
    assert compute.finish_reason == "answer" and "<sandbox_output>0.6667</sandbox_output>" in compute.completion

    encoder = TrajectoryEncoder(processor, "Be brief.")
    encoded = [encoder.encode(t) for t in batch]
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    crop_seq = encoded[0]
    assert crop_seq.extra["image_grid_thw"].shape[0] == 2  # the input image and the crop
    assert not crop_seq.loss_mask[crop_seq.input_ids == image_pad].any()  # image tokens carry no loss
    params = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stats = grpo.grpo_step(model, None, optimizer, encoded, torch.tensor([1.0, -1.0, 0.5, -0.5]),
                           clip_epsilon=0.2, kl_beta=0.0)
    assert stats["trajectories"] == 4 and torch.isfinite(torch.tensor(stats["loss"]))
    assert any(not torch.equal(a, b) for a, b in zip(params, model.parameters()))
