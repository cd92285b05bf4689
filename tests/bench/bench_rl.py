"""Rollout throughput and the share of rollout time spent waiting on the sandbox.

    python tests/bench/bench_rl.py                       # tiny model on CPU, in-process sandbox (runsc)
    python tests/bench/bench_rl.py --launcher process    # sandbox workers without gVisor
    python tests/bench/bench_rl.py --sandbox-url http://127.0.0.1:8080 --trajectories 16

The tiny random model never writes `<code>` on its own, so the text phase is the model's
own sampling (at temperature 1.0, `--max-new-tokens` tokens) followed by a forced
`<code>`, and the code phase is a fixed crop-and-save program: every round then costs
one real generation and one real sandbox call, which is what the ratio is about. The
last round forces an answer. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import tempfile
import time
from collections.abc import Sequence

from thyme_jobs.agent import loop as rollout
from thyme_jobs.agent import thyme_code
from thyme_jobs.agent.encoding import TrajectoryEncoder
from thyme_jobs.agent.engines import TransformersEngine
from thyme_jobs.agent.loop import Generation, Sampling, Trajectory
from thyme_jobs.agent.sandbox_runner import SandboxRunner

import benchsandbox  # tests/bench/, beside this script

CROP = ("\n```python\nimage = Image.open(image_path)\nw, h = image.size\n"
        "out = image.crop((0, 0, w // 2, h // 2)).resize((w, h))\n"
        "processed_path = '/mnt/data/temp_processed_images/zoom.jpg'\nout.save(processed_path)\n"
        "print(processed_path)\n```\n</code>")


class ToolForcing:
    """The model writes the text; a `<code>` and a crop program are forced after it."""

    def __init__(self, inner: TransformersEngine, rounds: int) -> None:
        self.inner, self.rounds = inner, rounds
        self.generate_seconds = 0.0

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        if sampling.stop == thyme_code.CODE_STOPS:
            return [Generation(CROP, "stop", "</code>") for _ in requests]
        started = time.perf_counter()
        out = self.inner.generate(requests, sampling, seed)
        self.generate_seconds += time.perf_counter() - started
        forced = []
        for t, g in zip(requests, out):
            text, _ = rollout.cut_at_stop(g.text, ())
            if t.rounds + 1 >= self.rounds:
                forced.append(Generation(text + "</think><answer>B</answer>", "stop", "</answer>"))
            else:
                forced.append(Generation(text + "<code>", "stop", "<code>"))
        return forced


def photo() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.linear_gradient("L").resize((448, 336)).convert("RGB").save(out, "JPEG")
    return out.getvalue()


async def bench(args: argparse.Namespace, url: str) -> dict:
    from thyme_jobs import tinymodel
    from thyme_sandbox.client import SandboxClient
    from thyme_jobs.modelio.processor import load_processor
    from transformers import AutoModelForImageTextToText

    model_dir = tinymodel.build(tempfile.mkdtemp(prefix="bench-rl-") + "/model")
    processor = load_processor(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    engine = ToolForcing(TransformersEngine(model, TrajectoryEncoder(processor, None)), args.rounds)
    settings = rollout.RolloutSettings(
        max_rounds=args.rounds, max_images=10,
        text=Sampling(1.0, args.max_new_tokens, thyme_code.TEXT_STOPS), code=Sampling(0.0, args.max_new_tokens, thyme_code.CODE_STOPS))
    image = photo()
    async with SandboxClient(url) as client:
        runner = SandboxRunner(client)
        batch = [Trajectory(f"warm-{i}", "p", "<image>\nWhat?", [image]) for i in range(2)]
        await rollout.rollout(batch, engine, thyme_code.ThymeCode(runner), settings)  # warm caches and the pool
        engine.generate_seconds = 0.0
        batch = [Trajectory(f"t{i}", "p", "<image>\nWhat is in the corner?", [image]) for i in range(args.trajectories)]
        started = time.perf_counter()
        await rollout.rollout(batch, engine, thyme_code.ThymeCode(runner), settings)
        wall = time.perf_counter() - started
    # Sandbox calls of a round overlap, so the wait is the per-round maximum, not the sum.
    calls = sum(t.tool_calls for t in batch)
    sandbox_sum = sum(t.sandbox_seconds for t in batch)
    waiting = max(0.0, wall - engine.generate_seconds)
    return {
        "trajectories": len(batch), "rounds": args.rounds, "tool_calls": calls,
        "sandbox_errors": sum(t.sandbox_errors for t in batch),
        "wall_seconds": round(wall, 3),
        "trajectories_per_second": round(len(batch) / wall, 3),
        "generate_seconds": round(engine.generate_seconds, 3),
        "sandbox_wait_share": round(waiting / wall, 3),
        "sandbox_call_seconds_mean": round(sandbox_sum / max(calls, 1), 4),
        "images_per_trajectory": sum(t.image_count for t in batch) / len(batch),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trajectories", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--sandbox-url")
    parser.add_argument("--launcher", choices=["runsc", "process"], default="runsc")
    parser.add_argument("--pool-size", type=int, default=4)
    args = parser.parse_args()
    with benchsandbox.sandbox_url(args) as url:
        result = asyncio.run(bench(args, url))
    print(json.dumps({"bench": "rl_rollout", "sandbox": args.sandbox_url or args.launcher, **result}))


if __name__ == "__main__":
    main()
