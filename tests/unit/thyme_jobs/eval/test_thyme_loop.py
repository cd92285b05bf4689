"""VLMEvalKit's Thyme loop with a scripted engine and a sandbox stand-in that really crops.

The engine plays a model; the runner plays the sandbox (the real one is exercised in the
component tier): code containing `crop` returns the cropped input image, code containing
`raise` fails, `print` returns its text.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence

import pytest
from PIL import Image

from thyme_jobs import store as stores
from thyme_jobs.agent.loop import Generation, Sampling, Trajectory
from thyme_jobs.agent.thyme_code import CodeResult
from thyme_jobs.eval import main, prompts, scorers, synthetic, thyme_loop, tsv
from thyme_jobs.eval.config import EvalConfig

CROP = "<think>The square is small; zoom in.</think><code>\n```python\nimg = Image.open(image_path)\ncrop = img.crop((0, 0, 64, 64))\n```\n</code>"
BROKEN = "<think>Let me try.</think><code>\n```python\nraise ValueError('oops')\n```\n</code>"


class CropRunner:
    """Stands in for the sandbox service: sessions keyed by trajectory id, results as the service gives them."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str]] = []
        self.closed: list[str] = []
        self.in_flight = self.max_in_flight = 0

    async def run(self, trajectory_id: str, code: str, image: bytes | None) -> CodeResult:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            self.runs.append((trajectory_id, code))
            if "raise" in code:
                return CodeResult("error", error="ValueError: oops (line 1)")
            if "crop" in code:
                with Image.open(io.BytesIO(image)) as img:
                    out = io.BytesIO()
                    img.crop((0, 0, 64, 64)).save(out, "PNG")
                return CodeResult("ok", stdout="/tmp/out/crop.png\n", images=[out.getvalue()])
            return CodeResult("ok", stdout="42\n")
        finally:
            self.in_flight -= 1

    async def close(self, trajectory_id: str) -> None:
        self.closed.append(trajectory_id)


Script = Callable[[thyme_loop.EvalTrajectory, Sampling], Generation]


class ScriptedEngine:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.calls: list[tuple[int, Sampling]] = []

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        self.calls.append((len(requests), sampling))
        return [self.script(t, sampling) for t in requests]  # type: ignore[arg-type]


def stop(text: str) -> Generation:
    return Generation(text, "stop", "</answer>" if text.endswith("</answer>") else "</code>")


def config(tmp_path, **overrides) -> EvalConfig:
    return EvalConfig(run_root=str(tmp_path / "run"), benchmarks=[{"name": "VStarBench", "tsv": "bench/VStarBench.tsv"}],
                      checkpoints=["sft/final"], sandbox_url="http://127.0.0.1:1", **overrides)


@pytest.fixture
def bench(tmp_path):
    synthetic.write(tmp_path / "b", ["VStarBench"], 6, broken=False, seed=5, side=128)
    items, bad = tsv.read_items(tmp_path / "b" / "VStarBench.tsv", ("category",))
    assert not bad
    return items


def truth_of(items):
    by_id = {f"sft-VStarBench-{i.index}": i.answer for i in items}
    return lambda t: by_id[t.id.split("#")[0]]


async def run_chunk(tmp_path, items, engine, runner, **overrides):
    cfg = config(tmp_path, **overrides)
    run = stores.open_store(cfg.run_root)
    records = await main.evaluate_chunk(cfg, run, "sft", scorers.benchmark("VStarBench"), items, engine, runner, None)
    return records, run


async def test_crop_then_the_right_letter_scores_every_item_and_shows_the_image(tmp_path, bench):
    truth = truth_of(bench)

    def script(t, s):
        assert s.stop == ("</code>", "</answer>") and s.temperature == 0.01 and s.top_k == 1
        if "<sandbox_output>" not in t.completion:
            return stop(CROP)
        return stop(f"<think>Now it is clear.</think><answer>{truth(t)}</answer>")

    engine, runner = ScriptedEngine(script), CropRunner()
    records, run = await run_chunk(tmp_path, bench, engine, runner)
    assert [r["correct"] for r in records] == [True] * len(bench)
    assert {r["method"] for r in records} == {"rule"}
    # one engine call per round for all six items, not one per item and segment
    assert [n for n, _ in engine.calls] == [6, 6]
    assert runner.max_in_flight == 6
    for r in records:
        content = r["transcript"][-1]["content"]
        kinds = [c["type"] for c in content]
        assert kinds == ["text", "text", "image", "text", "text"]
        assert content[0]["text"] == CROP and content[1]["text"] == "<sandbox_output>"
        assert content[3]["text"] == "</sandbox_output>"
        image = run.get_bytes(content[2]["key"])
        with Image.open(io.BytesIO(image)) as img:
            assert img.size == (64, 64)
        assert r["tool_calls"] == 1 and r["rollbacks"] == 0 and not r["fallback"] and r["attempts"] == 1
        user = r["transcript"][1]["text"]
        assert user.startswith("<image>\nQuestion: ") and f'Path:** "/mnt/data/LMUData/images/VStarBench/{r["index"]}.jpg"' in user
        assert 'Image Size:** "128x128"' in user


async def test_broken_code_first_is_rolled_back_without_a_trace(tmp_path, bench):
    truth = truth_of(bench)
    seen_contexts: list[str] = []

    def script(t, s):
        seen_contexts.append(t.completion)
        runs_so_far = t.completion.count("<code>")
        if t.completion == "" and not getattr(t, "_broke", False):
            t._broke = True  # the first segment of each item is broken code
            return stop(BROKEN)
        if runs_so_far == 0:
            return stop(CROP)
        return stop(f"<answer>{truth(t)}</answer>")

    runner = CropRunner()
    records, _ = await run_chunk(tmp_path, bench[:2], ScriptedEngine(script), runner)
    for r in records:
        text = "".join(c.get("text", "") for c in r["transcript"][-1]["content"])
        assert "raise" not in text and "oops" not in text and "Let me try" not in text
        assert text.startswith(CROP + "<sandbox_output>")
        assert r["correct"] and r["rollbacks"] == 1 and r["tool_calls"] == 2 and r["attempts"] == 1
    assert not any("oops" in c for c in seen_contexts)  # the error never reached the model either


async def test_a_failed_run_after_a_good_one_replays_the_good_code_into_a_fresh_session(tmp_path, bench):
    truth = truth_of(bench)

    def script(t, s):
        n = t.completion.count("<code>")
        if n == 0:
            return stop(CROP)
        if n == 1 and not getattr(t, "_broke", False):
            t._broke = True
            return stop(BROKEN)
        if n == 1:
            return stop("<code>\n```python\nprint(42)\n```\n</code>")
        return stop(f"<answer>{truth(t)}</answer>")

    runner = CropRunner()
    records, _ = await run_chunk(tmp_path, bench[:1], ScriptedEngine(script), runner)
    assert records[0]["correct"] and records[0]["rollbacks"] == 1
    tid = "sft-VStarBench-" + bench[0].index
    crop = "img = Image.open(image_path)\ncrop = img.crop((0, 0, 64, 64))"
    # the failed session is closed and rebuilt from the good run before the next one
    assert [code for t, code in runner.runs if t == tid] == [crop, "raise ValueError('oops')", crop, "print(42)"]
    assert runner.closed.count(tid) == 2  # once to drop the failed state, once at the end
    text = "".join(c.get("text", "") for c in records[0]["transcript"][-1]["content"])
    assert "<sandbox_output>42\n</sandbox_output>" in text and "oops" not in text


async def test_a_model_that_never_answers_gets_the_fallback_prompt(tmp_path, bench):
    truth = truth_of(bench)
    asked: list[tuple[str | None, tuple[str, ...], float]] = []

    def script(t, s):
        asked.append((t.system, s.stop, s.temperature))
        if t.system == prompts.SIMPLE_SYSTEM_PROMPT:
            assert t.user_text == prompts.simple_user_text(t.question)
            return Generation(f"The answer is {truth(t)}", "eos")
        return Generation("<think>I keep thinking and never decide", "eos")

    records, _ = await run_chunk(tmp_path, bench[:2], ScriptedEngine(script), CropRunner())
    for r in records:
        assert r["fallback"] and r["attempts"] == 5 and r["finish_reason"] == "fallback"
        assert r["prediction"] == f"The answer is {r['answer']}" and r["correct"]
        text = r["transcript"][-1]["content"][0]["text"]
        assert text == f"<answer>The answer is {r['answer']}</answer>"  # wrapped in <answer>
        assert r["transcript"][0]["text"] == prompts.SIMPLE_SYSTEM_PROMPT
    tool_calls = [a for a in asked if a[0] != prompts.SIMPLE_SYSTEM_PROMPT]
    assert len(tool_calls) == 2 * 5  # five attempts of one segment each, per item
    assert [temp for _, _, temp in tool_calls[::2]] == [0.01, 1.0, 1.0, 1.0, 1.0]  # 1.0 after a failed attempt
    assert all(stops == () for sys, stops, _ in asked if sys == prompts.SIMPLE_SYSTEM_PROMPT)  # no stop strings


async def test_without_fallback_an_unanswered_item_reads_no_answer_and_is_wrong(tmp_path, bench):
    engine = ScriptedEngine(lambda t, s: Generation("<think>hmm", "eos"))
    records, _ = await run_chunk(tmp_path, bench[:1], engine, CropRunner(), fallback=False, max_retry=2,
                                 retry_temperature=None)
    r = records[0]
    assert r["finish_reason"] == "no_answer" and r["prediction"] == "No answer tag found in the final output."
    assert r["letter"] == "Z" and not r["correct"] and r["method"] == "no_judge"
    assert {s.temperature for _, s in engine.calls} == {0.01}  # retry_temperature: null keeps the temperature


async def test_iterations_are_capped_per_attempt(tmp_path, bench):
    engine = ScriptedEngine(lambda t, s: stop("<code>\n```python\nprint(42)\n```\n</code>"))
    records, _ = await run_chunk(tmp_path, bench[:1], engine, CropRunner(), max_iterations=3, max_retry=2,
                                 fallback=False)
    assert records[0]["tool_calls"] == 6 and records[0]["finish_reason"] == "no_answer"
