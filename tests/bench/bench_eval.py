"""Evaluation throughput: the eval stage's loop (items side by side) vs one item at a time.

    python tests/bench/bench_eval.py                     # tiny model on CPU, sandbox under runsc
    python tests/bench/bench_eval.py --launcher process  # sandbox workers without gVisor
    python tests/bench/bench_eval.py --items 32 --max-new-tokens 128

Both sides run the same VLMEvalKit Thyme loop (`thyme_jobs.eval.thyme_loop`) on the same
synthetic V*-format items, the same tiny random Qwen2.5-VL and the same sandbox:

- ours: every item of the set at once; each round is one batched `generate` (left-padded,
  `BatchedTransformersEngine`) and the round's sandbox calls run concurrently;
- one at a time: VLMEvalKit's way, an item after the other with one `generate` call per
  segment (`TransformersEngine`).

The random model never writes Thyme's tags, so its own greedy text is followed by a
forced crop program in the first segment and a forced answer in the second: every item
then costs two real generations and one real sandbox call. Prints one JSON line with
items/s of both, their ratio, and where the time goes.

Segments are 64 tokens by default (`--max-new-tokens`): Thyme's segments run from tens
to hundreds of tokens (VLMEvalKit allows 2048), and the random model uses all of them.
The warm pool holds a worker per item of a round and refills before each side is timed
(a session gets a fresh worker, and after one is used another must start). Torch gets one thread (`--threads`): on a 2-core machine the sandbox's workers need the
other core, and two OpenMP threads on a busy machine made every step several times
slower, for both sides alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from collections.abc import Sequence

from thyme_jobs.agent.loop import Generation, Sampling, Trajectory, cut_at_stop

import benchsandbox  # tests/bench/, beside this script

CROP = ("<code>\n```python\nimage = Image.open(image_path)\nw, h = image.size\n"
        "out = image.crop((0, 0, w // 2, h // 2)).resize((w, h))\n"
        "processed_path = '/mnt/data/temp_processed_images/zoom.jpg'\nout.save(processed_path)\n"
        "print(processed_path)\n```\n</code>")


class ToolForcing:
    """The model writes the text of a segment; a crop program, then an answer, are appended."""

    def __init__(self, inner) -> None:  # noqa: ANN001 - any Engine
        self.inner = inner
        self.generate_seconds = 0.0
        self.calls = 0

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        started = time.perf_counter()
        out = self.inner.generate(requests, sampling, seed)
        self.generate_seconds += time.perf_counter() - started
        self.calls += 1
        forced = []
        for t, g in zip(requests, out):
            text, _ = cut_at_stop(g.text, ())
            if "<sandbox_output>" in t.completion:
                forced.append(Generation(text + "</think><answer>A</answer>", "stop", "</answer>"))
            else:
                forced.append(Generation("<think>" + text + CROP, "stop", "</code>"))
        return forced


async def run_set(items, engine, runner, settings, *, together: bool) -> tuple[float, list]:  # noqa: ANN001
    from thyme_jobs.eval import prompts, thyme_loop

    def make(item, tag: str):  # noqa: ANN001, ANN202
        question = prompts.mcq_text(item.question, item.options)
        return thyme_loop.new_run(f"{tag}-{item.index}", question, item.image, f"/mnt/data/{item.index}.jpg",
                                  (224, 224), None, settings)

    started = time.perf_counter()
    if together:
        runs = [make(i, "batch") for i in items]
        await thyme_loop.run_items(runs, engine, runner, settings)
    else:
        runs = []
        for item in items:
            run = make(item, "single")
            await thyme_loop.run_items([run], engine, runner, settings)
            runs.append(run)
    return time.perf_counter() - started, runs


async def bench(args: argparse.Namespace, url: str) -> dict:
    import torch
    from transformers import AutoModelForImageTextToText

    from thyme_jobs import tinymodel
    from thyme_jobs.agent.engines import BatchedTransformersEngine, TransformersEngine
    from thyme_jobs.agent.sandbox_runner import SandboxRunner
    from thyme_jobs.eval import synthetic, thyme_loop, tsv
    from thyme_jobs.eval.encoding import EvalEncoder
    from thyme_jobs.modelio.processor import load_processor
    from thyme_sandbox.client import SandboxClient

    torch.set_num_threads(args.threads)
    tmp = tempfile.mkdtemp(prefix="bench-eval-")
    model_dir = tinymodel.build(tmp + "/model")
    processor = load_processor(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    encoder = EvalEncoder(processor)
    synthetic.write(Path(tmp) / "bench", ["VStarBench"], args.items, broken=False, side=224)
    items, _ = tsv.read_items(Path(tmp) / "bench" / "VStarBench.tsv", ("category",))
    settings = thyme_loop.LoopSettings(max_new_tokens=args.max_new_tokens, max_iterations=3, max_retry=1)
    batched = ToolForcing(BatchedTransformersEngine(model, encoder, batch_size=args.items))
    single = ToolForcing(TransformersEngine(model, encoder))
    async with SandboxClient(url) as client:
        runner = SandboxRunner(client)
        await run_set(items[:2], single, runner, settings, together=False)  # warm caches and the pool
        await run_set(items[:2], batched, runner, settings, together=True)
        await asyncio.sleep(args.settle)  # let the pool replace the workers the warm-up used
        batched.generate_seconds = single.generate_seconds = 0.0
        batched.calls = single.calls = 0
        ours, ours_runs = await run_set(items, batched, runner, settings, together=True)
        await asyncio.sleep(args.settle)
        base, base_runs = await run_set(items, single, runner, settings, together=False)
    answered = sum(1 for r in ours_runs if r.answered), sum(1 for r in base_runs if r.answered)
    return {
        "items": len(items), "max_new_tokens": args.max_new_tokens, "threads": args.threads,
        "ours_items_per_second": round(len(items) / ours, 3),
        "one_at_a_time_items_per_second": round(len(items) / base, 3),
        "ratio": round(base / ours, 2),
        "ours_seconds": {"wall": round(ours, 3), "generate": round(batched.generate_seconds, 3),
                         "sandbox_and_rest": round(ours - batched.generate_seconds, 3), "generate_calls": batched.calls},
        "one_at_a_time_seconds": {"wall": round(base, 3), "generate": round(single.generate_seconds, 3),
                                  "sandbox_and_rest": round(base - single.generate_seconds, 3),
                                  "generate_calls": single.calls},
        "answered": {"ours": answered[0], "one_at_a_time": answered[1]},
        "tool_calls": sum(r.tool_calls for r in ours_runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both sides)")
    parser.add_argument("--sandbox-url")
    parser.add_argument("--launcher", choices=["runsc", "process"], default="runsc")
    parser.add_argument("--pool-size", type=int, default=16, help="warm sandbox workers (one per item of a round)")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds for the pool to refill before each side")
    args = parser.parse_args()
    with benchsandbox.sandbox_url(args) as url:
        result = asyncio.run(bench(args, url))
    print(json.dumps({"bench": "eval_items", "sandbox": args.sandbox_url or args.launcher, **result}))


if __name__ == "__main__":
    main()
