"""The eval stage: score checkpoints on VLMEvalKit-format benchmarks, results under eval/.

How to run it:

    thyme eval --config eval.yaml                          # every shard in this process
    JOB_COMPLETION_INDEX=3 thyme eval --config eval.yaml   # one shard (a pod of the Indexed Job)

In this order: exit at once if `eval/manifest.json` exists; settle the checkpoints
(`base`, `sft/final`, `rl/final`, whichever exist, unless listed); for each checkpoint
load the model once, and for each benchmark read this shard's rows of the TSV (broken
rows reported by position and skipped), drop the items already committed, and run the
rest in chunks: the Thyme loop over the chunk's items side by side, score them (rule,
then the judge), put the chunk's records as one part file. A shard's `done.json` comes
after its last part; the shard that finds every `done.json` writes the results, the
summary table and chart, and the manifest last (`outputs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thyme_jobs import failures
from thyme_jobs import store as stores
from thyme_jobs.agent import thyme_code
from thyme_jobs.agent.loop import Engine
from thyme_jobs.eval import outputs, prompts, scorers, thyme_loop, tsv
from thyme_jobs.eval.config import DEFAULT_CHECKPOINTS, EvalConfig

log = logging.getLogger(__name__)
ENV_JOB_INDEX = "JOB_COMPLETION_INDEX"
#: makes an Engine for a model directory; tests pass one that ignores the directory
EngineFactory = Callable[[Path], Engine]


@dataclass
class Checkpoint:
    label: str
    source: str  # what was asked for: base, a key under the run root, or a URI
    uri: str | None  # where the model directory is when it is not under the run root


def run_stage(cfg: EvalConfig, runner: thyme_code.CodeRunner | None = None,
              engine_factory: EngineFactory | None = None, environ: dict[str, str] | None = None) -> int:
    run = stores.open_store(cfg.run_root)
    if run.exists(outputs.MANIFEST):
        log.info("eval: %s exists, nothing to do", run.location(outputs.MANIFEST))
        return 0
    env = os.environ if environ is None else environ
    shards = _my_shards(cfg, env)
    checkpoints = resolve_checkpoints(cfg, run)
    if not checkpoints:
        raise ValueError("eval: no checkpoint to score: none of base (base_model unset), sft/final, rl/final "
                         "exists under the run root; list checkpoints or run sft/rl first")
    plan = {"checkpoints": [c.label for c in checkpoints], "benchmarks": [b.name for b in cfg.benchmarks],
            "num_shards": cfg.num_shards, "sources": {c.label: c.source for c in checkpoints},
            "config": json.loads(cfg.model_dump_json())}
    scratch = Path(tempfile.mkdtemp(prefix="thyme-eval-"))
    try:
        asyncio.run(_evaluate(cfg, run, checkpoints, shards, scratch, runner, engine_factory))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    manifest = outputs.try_merge(run, plan)
    if manifest is None:
        log.info("eval: shards %s done; the last shard to finish writes the manifest", shards)
    else:
        log.info("eval: done, %s", manifest["headline"])
        # The operator never reads the store: the headline reaches the run's status (and
        # `kubectl get thymerun`) through this container's termination message.
        failures.write_termination_message(str(manifest["headline"]))
    return 0


def _my_shards(cfg: EvalConfig, env: Any) -> list[int]:
    if cfg.shard_index is not None:
        return [cfg.shard_index]
    if env.get(ENV_JOB_INDEX, "").strip():
        index = int(env[ENV_JOB_INDEX])
        if not 0 <= index < cfg.num_shards:
            raise ValueError(f"{ENV_JOB_INDEX}={index} is outside 0..{cfg.num_shards - 1} (num_shards)")
        return [index]
    return list(range(cfg.num_shards))


def resolve_checkpoints(cfg: EvalConfig, run: stores.ArtifactStore) -> list[Checkpoint]:
    """The listed checkpoints, or the defaults that exist (a committed model directory)."""
    names = cfg.checkpoints if cfg.checkpoints is not None else list(DEFAULT_CHECKPOINTS)
    out = []
    for name in names:
        if name == "base":
            if cfg.base_model is None:
                continue  # only reachable for the defaults: the validator refuses a listed base without it
            out.append(Checkpoint("base", name, cfg.base_model))
        elif "://" in name or name.startswith("/"):
            out.append(Checkpoint(outputs.checkpoint_label(name), name, name))
        elif cfg.checkpoints is not None or run.exists(stores.join(name, "manifest.json")):
            out.append(Checkpoint(outputs.checkpoint_label(name), name, None))
    return out


async def _evaluate(cfg: EvalConfig, run: stores.ArtifactStore, checkpoints: list[Checkpoint], shards: list[int],
                    scratch: Path, runner: thyme_code.CodeRunner | None, engine_factory: EngineFactory | None) -> None:
    from thyme_jobs.agent.sandbox_runner import SandboxRunner

    owned = runner is None
    runner = runner or SandboxRunner.from_url(cfg.sandbox_url)
    judge_cm: Any = contextlib.nullcontext(None)
    if cfg.judge.endpoint:
        from thyme_jobs.rl.judge import JudgeClient

        judge_cm = JudgeClient(cfg.judge.endpoint, cfg.judge.model, timeout_seconds=cfg.judge.timeout_seconds,
                               max_retries=cfg.judge.max_retries, concurrency=cfg.judge.concurrency)
    tsvs = {b.name: _fetch(run, b.tsv, scratch / "tsv" / f"{b.name}.tsv") for b in cfg.benchmarks}
    try:
        async with judge_cm as judge:
            for ckpt in checkpoints:
                todo = [(b, s) for b in cfg.benchmarks for s in shards
                        if not run.exists(outputs.done_key(ckpt.label, b.name, s))]
                if not todo:
                    continue
                engine = _engine(cfg, run, ckpt, scratch, engine_factory)
                for bench, shard in todo:
                    await _shard(cfg, run, ckpt.label, bench, shard, tsvs[bench.name], engine, runner, judge)
                del engine
    finally:
        if owned and isinstance(runner, SandboxRunner):
            await runner.aclose()


def _fetch(run: stores.ArtifactStore, where: str, local: Path) -> Path:
    if "://" in where or where.startswith("/"):
        source, key = _split(where)
        source.get_file(key, local)
    else:
        run.get_file(where, local)
    return local


def _split(uri: str) -> tuple[stores.ArtifactStore, str]:
    parent, _, name = uri.rstrip("/").rpartition("/")
    return stores.open_store(parent), name


def _engine(cfg: EvalConfig, run: stores.ArtifactStore, ckpt: Checkpoint, scratch: Path,
            factory: EngineFactory | None) -> Engine:
    from thyme_jobs.modelio import checkpoints as store_checkpoints

    local = scratch / "models" / ckpt.label
    shutil.rmtree(scratch / "models", ignore_errors=True)  # one model on disk at a time
    store_checkpoints.fetch_model(run, ckpt.uri or ckpt.source, local)
    if factory is not None:
        return factory(local)
    return build_engine(cfg, local)


def build_engine(cfg: EvalConfig, model_dir: Path) -> Engine:
    """vLLM when present with CUDA (batches everything it is given), else batched transformers."""
    import torch
    from transformers import AutoModelForImageTextToText

    from thyme_jobs.agent import engines
    from thyme_jobs.eval.encoding import EvalEncoder
    from thyme_jobs.modelio.processor import load_processor

    processor = load_processor(model_dir)
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is not None and (cfg.min_pixels or cfg.max_pixels):
        size = dict(getattr(image_processor, "size", {}) or {})
        size.update({k: v for k, v in (("shortest_edge", cfg.min_pixels), ("longest_edge", cfg.max_pixels)) if v})
        image_processor.size = size
    encoder = EvalEncoder(processor)
    if engines.resolve(cfg.engine) == "vllm":
        return engines.VLLMEngine(model_dir, encoder, max_images=cfg.max_images or 32, seed=cfg.seed)
    cuda = torch.cuda.is_available()
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.bfloat16 if cuda else torch.float32)
    model = model.to("cuda" if cuda else "cpu").eval()
    return engines.BatchedTransformersEngine(model, encoder, batch_size=cfg.batch_size)


def settings(cfg: EvalConfig) -> thyme_loop.LoopSettings:
    return thyme_loop.LoopSettings(
        max_iterations=cfg.max_iterations, max_retry=cfg.max_retry, max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k, retry_temperature=cfg.retry_temperature,
        fallback=cfg.fallback, rollback=cfg.rollback, max_images=cfg.max_images)


async def _shard(cfg: EvalConfig, run: stores.ArtifactStore, ckpt: str, bench_cfg: Any, shard: int, path: Path,
                 engine: Engine, runner: thyme_code.CodeRunner, judge: Any) -> None:
    bench = scorers.benchmark(bench_cfg.name)
    items, malformed = tsv.read_items(path, bench.columns, shard, cfg.num_shards)
    if bench_cfg.limit is not None:
        items = [i for i in items if i.row < bench_cfg.limit]
        malformed = [m for m in malformed if m.row < bench_cfg.limit]
    for bad in malformed:
        log.warning("eval: %s row %d (index %s) skipped: %s", bench.name, bad.row, bad.index, bad.reason)
    finished = outputs.done_indices(run, ckpt, bench.name, shard)
    todo = [i for i in items if i.index not in finished]
    log.info("eval: %s on %s shard %d: %d items (%d already done, %d malformed rows)", ckpt, bench.name, shard,
             len(items), len(items) - len(todo), len(malformed))
    for start in range(0, len(todo), cfg.save_every):
        chunk = todo[start:start + cfg.save_every]
        if getattr(bench_cfg, "protocol", "thyme") == "deepeyes":
            from thyme_jobs.eval import deepeyes_vstar

            records = await deepeyes_vstar.evaluate_chunk(cfg, run, ckpt, bench, chunk, engine, judge, seed=cfg.seed + start)
        else:
            records = await evaluate_chunk(cfg, run, ckpt, bench, chunk, engine, runner, judge, seed=cfg.seed + start)
        outputs.write_part(run, outputs.part_key(ckpt, bench.name, shard, chunk[0].row), records)
    stores.put_json(run, outputs.done_key(ckpt, bench.name, shard),
                    {"shard": shard, "num_shards": cfg.num_shards, "items": len(items),
                     "malformed": [m.as_dict() for m in malformed]})


async def evaluate_chunk(cfg: EvalConfig, run: stores.ArtifactStore, ckpt: str, bench: scorers.Benchmark,
                         chunk: list[tsv.Item], engine: Engine, runner: thyme_code.CodeRunner, judge: Any,
                         seed: int = 0) -> list[dict[str, Any]]:
    """Run the loop over `chunk` side by side, score each item, store its images; the records."""
    runs = []
    for item in chunk:
        question = prompts.mcq_text(item.question, item.options, item.hint)
        path = cfg.image_path_template.format(benchmark=bench.name, index=item.index)
        runs.append(thyme_loop.new_run(f"{ckpt}-{bench.name}-{item.index}", question, item.image, path,
                                       _size(item.image), cfg.system_prompt, settings(cfg)))
    await thyme_loop.run_items(runs, engine, runner, settings(cfg), seed=seed)
    verdicts = await asyncio.gather(*(_score(cfg, bench, item, r, judge) for item, r in zip(chunk, runs)))
    return [_record(run, ckpt, bench, item, r, v) for item, r, v in zip(chunk, runs, verdicts)]


def _size(image: bytes) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(image)) as img:
            return img.size
    except Exception:  # the prompt then says the size is unknown, as the reference does
        return None


async def _score(cfg: EvalConfig, bench: scorers.Benchmark, item: tsv.Item, r: thyme_loop.ItemRun,
                 judge: Any) -> scorers.Scored:
    prediction = r.prediction
    letter = scorers.letter_rule(bench, prediction, item.options)
    if letter is not None:
        return scorers.by_rule(letter, item.answer)
    if judge is None:
        return scorers.no_judge(item.answer)
    from thyme_jobs.eval import judging

    return await judging.judge_letter(judge, item.question, item.options, prediction, item.answer,
                                      cfg.judge.on_failure, f"{bench.name}/{item.index}")


def _record(run: stores.ArtifactStore, ckpt: str, bench: scorers.Benchmark, item: tsv.Item,
            r: thyme_loop.ItemRun, verdict: scorers.Scored) -> dict[str, Any]:
    """One JSONL record: the item, the verdict, the transcript (images as store keys), counters, timing."""
    content: list[dict[str, Any]] = []
    n = 0
    for segment in r.trajectory.segments:
        pieces = segment.text.split(thyme_loop.IMAGE)
        for k, piece in enumerate(pieces):
            if piece:
                content.append({"type": "text", "text": piece})
            if k < len(pieces) - 1 and k < len(segment.images):
                data = segment.images[k]
                key = outputs.image_key(ckpt, bench.name, item.index, n, data)
                run.put_bytes(key, data)
                content.append({"type": "image", "key": key})
                n += 1
    transcript = []
    if r.trajectory.system:
        transcript.append({"role": "system", "text": r.trajectory.system})
    transcript.append({"role": "user", "image": f"{bench.name}.tsv#index={item.index}", "text": r.trajectory.user_text})
    transcript.append({"role": "assistant", "content": content})
    return {
        "benchmark": bench.name, "checkpoint": ckpt, "index": item.index, "row": item.row,
        "question": r.question, "options": item.options, "answer": item.answer,
        "category": item.category, "l2_category": item.l2_category, "cycle_category": item.cycle_category,
        "prediction": r.prediction, "letter": verdict.letter, "correct": verdict.correct, "method": verdict.method,
        "transcript": transcript,
        "attempts": r.attempt if r.fallback_used or r.finish_reason == "no_answer" else r.attempt + 1,
        "fallback": r.fallback_used, "rollbacks": r.rollbacks, "skips": r.skips, "tool_calls": r.tool_calls,
        "generations": r.generations, "finish_reason": r.finish_reason, "failure": r.failure,
        "timing": {"generate_seconds": round(r.generate_seconds, 4), "sandbox_seconds": round(r.sandbox_seconds, 4),
                   "total_seconds": round(r.seconds, 4)},
    }
