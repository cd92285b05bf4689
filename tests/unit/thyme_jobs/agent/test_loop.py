"""The agent loop with the Thyme protocol, against a scripted engine and a fake sandbox."""

from __future__ import annotations

import asyncio
import doctest
import io
from collections.abc import Callable, Sequence

import pytest
from PIL import Image

from thyme_jobs.agent import loop as rollout
from thyme_jobs.agent import thyme_code
from thyme_jobs.agent.loop import Generation, Sampling, Trajectory
from thyme_jobs.agent.protocols import Observation
from thyme_jobs.agent.thyme_code import CodeResult

TEXT = Sampling(temperature=1.0, max_new_tokens=32, stop=thyme_code.TEXT_STOPS)
CODE = Sampling(temperature=0.0, max_new_tokens=32, stop=thyme_code.CODE_STOPS)


def png(w: int = 8, h: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), "red").save(out, "PNG")
    return out.getvalue()


Script = Callable[[Trajectory, Sampling], Generation]


class ScriptedEngine:
    """Answers each call from `script`, records who was asked at which temperature."""

    def __init__(self, script: Script, fail_ids: Sequence[str] = ()) -> None:
        self.script = script
        self.fail_ids = set(fail_ids)
        self.calls: list[tuple[str, float]] = []

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        if self.fail_ids & {t.id for t in requests}:
            raise RuntimeError("engine blew up")
        self.calls.extend((t.id, sampling.temperature) for t in requests)
        return [self.script(t, sampling) for t in requests]


class FakeRunner:
    def __init__(self, result: Callable[[str, str], CodeResult], delay: float = 0.0) -> None:
        self.result = result
        self.delay = delay
        self.in_flight = self.max_in_flight = 0
        self.runs: list[tuple[str, str]] = []
        self.closed: set[str] = set()

    async def run(self, trajectory_id: str, code: str, image: bytes | None) -> CodeResult:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            self.runs.append((trajectory_id, code))
            return self.result(trajectory_id, code)
        finally:
            self.in_flight -= 1

    async def close(self, trajectory_id: str) -> None:
        self.closed.add(trajectory_id)


def tool_user(t: Trajectory, s: Sampling) -> Generation:
    """Calls the tool until it has seen one sandbox output, then answers."""
    if s.temperature == 0.0:
        return Generation("\nprint('hi')\n</code>", "stop", "</code>")
    if "<sandbox_output>" in t.completion:
        return Generation(" so B.</think><answer>B</answer>", "stop", "</answer>")
    return Generation("<think>look closer <code>", "stop", "<code>")


def trajectories(n: int) -> list[Trajectory]:
    return [Trajectory(f"t{i}", "p0", "<image>\nWhat?", [png()], truth="B") for i in range(n)]


def settings(max_rounds: int = 4, max_images: int = 10) -> rollout.RolloutSettings:
    return rollout.RolloutSettings(max_rounds=max_rounds, max_images=max_images, text=TEXT, code=CODE)


async def test_code_is_generated_at_the_code_temperature_and_run_in_the_sandbox() -> None:
    engine = ScriptedEngine(tool_user)
    runner = FakeRunner(lambda tid, code: CodeResult("ok", stdout="hi\n"))
    batch = trajectories(2)
    await rollout.rollout(batch, engine, thyme_code.ThymeCode(runner), settings())
    for t in batch:
        assert t.finish_reason == "answer" and t.tool_calls == 1
        assert t.completion == (
            "<think>look closer <code>\nprint('hi')\n</code><sandbox_output>hi</sandbox_output> so B.</think><answer>B</answer>"
        )
        assert [s.trainable for s in t.segments] == [True, True, False, True]
        assert [temp for tid, temp in engine.calls if tid == t.id] == [1.0, 0.0, 1.0]
    assert runner.runs == [("t0", "print('hi')"), ("t1", "print('hi')")] or len(runner.runs) == 2
    assert runner.closed == {"t0", "t1"}


async def test_finished_trajectories_are_never_generated_again() -> None:
    def script(t: Trajectory, s: Sampling) -> Generation:
        if t.id == "t0":
            return Generation("<think>easy</think><answer>B</answer>", "stop", "</answer>")
        return tool_user(t, s) if "<sandbox_output>" in t.completion or s.temperature == 0 else Generation("<think><code>", "stop", "<code>")

    engine = ScriptedEngine(script)
    batch = trajectories(2)
    await rollout.rollout(batch, engine, thyme_code.ThymeCode(FakeRunner(lambda *_: CodeResult("ok", stdout="1"))), settings())
    assert [tid for tid, _ in engine.calls].count("t0") == 1
    assert batch[1].finish_reason == "answer" and batch[1].rounds == 2


async def test_a_batchs_sandbox_calls_run_concurrently() -> None:
    runner = FakeRunner(lambda *_: CodeResult("ok", stdout="x"), delay=0.2)
    started = asyncio.get_running_loop().time()
    await rollout.rollout(trajectories(6), ScriptedEngine(tool_user), thyme_code.ThymeCode(runner), settings())
    assert runner.max_in_flight == 6
    assert asyncio.get_running_loop().time() - started < 1.0


async def test_a_sandbox_timeout_ends_only_its_trajectory() -> None:
    runner = FakeRunner(lambda tid, code: CodeResult("timeout") if tid == "t1" else CodeResult("ok", stdout="fine"))
    batch = trajectories(3)
    await rollout.rollout(batch, ScriptedEngine(tool_user), thyme_code.ThymeCode(runner), settings())
    assert batch[1].finish_reason == "sandbox_timeout" and batch[1].failure
    assert batch[1].completion.endswith("<sandbox_output>Execution timed out.</sandbox_output>")
    assert batch[1].sandbox_errors == 1
    assert [batch[0].finish_reason, batch[2].finish_reason] == ["answer", "answer"]


async def test_user_code_errors_are_fed_back_and_the_trajectory_goes_on() -> None:
    runner = FakeRunner(lambda *_: CodeResult("error", error="NameError: name 'x' is not defined (line 1)"))
    batch = trajectories(1)
    await rollout.rollout(batch, ScriptedEngine(tool_user), thyme_code.ThymeCode(runner), settings())
    assert "<sandbox_output>NameError: name 'x' is not defined (line 1)</sandbox_output>" in batch[0].completion
    assert batch[0].finish_reason == "answer" and batch[0].sandbox_errors == 1


async def test_a_sandbox_service_fault_marks_the_trajectory_not_the_batch() -> None:
    async def faulty(tid: str, code: str, image: bytes | None) -> CodeResult:
        if tid == "t0":
            raise thyme_code.SandboxFault("pool exhausted")
        return CodeResult("ok", stdout="ok")

    runner = FakeRunner(lambda *_: CodeResult("ok"))
    runner.run = faulty  # type: ignore[method-assign]
    batch = trajectories(2)
    await rollout.rollout(batch, ScriptedEngine(tool_user), thyme_code.ThymeCode(runner), settings())
    assert (batch[0].finish_reason, batch[0].failure) == ("sandbox_fault", "pool exhausted")
    assert batch[1].finish_reason == "answer"


async def test_an_engine_failure_marks_only_the_failing_trajectory() -> None:
    batch = trajectories(3)
    engine = ScriptedEngine(tool_user, fail_ids=["t2"])
    await rollout.rollout(batch, engine, thyme_code.ThymeCode(FakeRunner(lambda *_: CodeResult("ok", stdout="1"))), settings())
    assert batch[2].finish_reason == "engine_error" and "engine blew up" in (batch[2].failure or "")
    assert [batch[0].finish_reason, batch[1].finish_reason] == ["answer", "answer"]


async def test_images_come_back_as_image_inputs_up_to_the_limit() -> None:
    def script(t: Trajectory, s: Sampling) -> Generation:
        if s.temperature == 0:
            return Generation("crop()</code>", "stop", "</code>")
        return Generation("<think>again <code>", "stop", "<code>")

    runner = FakeRunner(lambda *_: CodeResult("ok", images=[png(), png(), png()]))
    batch = trajectories(1)
    await rollout.rollout(batch, ScriptedEngine(script), thyme_code.ThymeCode(runner), settings(max_rounds=5, max_images=5))
    t = batch[0]
    assert t.image_count == 5 and t.finish_reason == "round_limit" and t.rounds == 5
    outputs = [s for s in t.segments if not s.trainable]
    assert [len(s.images) for s in outputs] == [3, 1, 0, 0, 0]
    assert outputs[0].text == "<sandbox_output><image><image><image></sandbox_output>"
    assert "Image limit reached: 2 image(s) not shown." in outputs[1].text


@pytest.mark.parametrize(
    ("generation", "reason"),
    [
        (Generation("<think>rambling on", "length"), "length"),
        (Generation("<think>done talking", "eos"), "end_of_turn"),
        (Generation("</answer>", "stop", "</answer>"), "answer"),
    ],
)
async def test_every_way_a_turn_ends_is_recorded(generation: Generation, reason: str) -> None:
    batch = trajectories(1)
    await rollout.rollout(batch, ScriptedEngine(lambda t, s: generation), thyme_code.ThymeCode(FakeRunner(lambda *_: CodeResult("ok"))), settings())
    assert batch[0].finish_reason == reason and batch[0].rounds == 1


async def test_malformed_code_spans_are_handled() -> None:
    def unclosed(t: Trajectory, s: Sampling) -> Generation:
        if s.temperature == 0:
            return Generation("print(1) and it never closes", "length")
        return Generation("<think><code>", "stop", "<code>")

    batch = trajectories(1)
    runner = FakeRunner(lambda *_: CodeResult("ok"))
    await rollout.rollout(batch, ScriptedEngine(unclosed), thyme_code.ThymeCode(runner), settings())
    assert batch[0].finish_reason == "unclosed_code" and runner.runs == []

    def empty(t: Trajectory, s: Sampling) -> Generation:
        if s.temperature == 0:
            return Generation("```python\n```</code>", "stop", "</code>")
        if "<sandbox_output>" in t.completion:
            return Generation("</think><answer>B</answer>", "stop", "</answer>")
        return Generation("<think><code>", "stop", "<code>")

    batch = trajectories(1)
    await rollout.rollout(batch, ScriptedEngine(empty), thyme_code.ThymeCode(runner), settings())
    assert "No code found" in batch[0].completion and runner.runs == [] and batch[0].finish_reason == "answer"


@pytest.mark.parametrize(
    ("result", "text"),
    [
        (Observation("ok", text="0.6666\n"), "<sandbox_output>0.6666</sandbox_output>"),
        (Observation("ok", text=""), "<sandbox_output>No output captured.</sandbox_output>"),
        (Observation("ok", text="x" * 30), "<sandbox_output>" + "x" * 10 + "...[truncated]</sandbox_output>"),
        (Observation("ok", images=[b"not an image"]), "<sandbox_output>The generated image has an invalid size or aspect ratio.</sandbox_output>"),
        (Observation("ok", images=[png(1000, 2)]), "<sandbox_output>The generated image has an invalid size or aspect ratio.</sandbox_output>"),
        (Observation("oom"), "<sandbox_output>Execution ran out of memory.</sandbox_output>"),
    ],
)
def test_sandbox_feedback(result: Observation, text: str) -> None:
    assert thyme_code.sandbox_feedback(result, images_left=10, max_chars=10).text == text


@pytest.mark.parametrize("module", [rollout, thyme_code], ids=lambda m: m.__name__)
def test_docstring_examples(module) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
