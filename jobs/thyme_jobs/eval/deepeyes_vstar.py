"""V* under DeepEyes' protocol: `image_zoom_in_tool` calls in the shared agent loop, scored
the way DeepEyes' own V* harness scores (`deepeyes/vstar.py`: its prompt, its answer rules,
its judge prompt when the rules cannot decide).

A benchmark entry with `protocol: deepeyes` comes here instead of the Thyme code loop, so a
DeepEyes checkpoint is measured by the rules it was trained and published under; the
records have the same shape as the Thyme path's, so shards, merging and reports are shared.
"""

from __future__ import annotations

from typing import Any

from thyme_jobs import store as stores
from thyme_jobs.agent import loop
from thyme_jobs.deepeyes import vstar
from thyme_jobs.deepeyes.protocol import DeepEyesZoom
from thyme_jobs.eval import outputs, scorers, tsv
from thyme_jobs.eval.config import EvalConfig


def vstar_item(item: tsv.Item) -> vstar.Item:
    """The TSV row as DeepEyes' item: options in the TSV's letter order, the TSV's answer letter."""
    letters = sorted(item.options)
    return vstar.Item(item.category, item.index, item.question, tuple(item.options[k] for k in letters), item.answer)


def rollout_settings(cfg: EvalConfig) -> loop.RolloutSettings:
    text = loop.Sampling(temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens,
                         stop=(DeepEyesZoom.call_close, DeepEyesZoom.answer_close), top_p=cfg.top_p, top_k=cfg.top_k)
    return loop.RolloutSettings(max_rounds=cfg.max_iterations, max_images=cfg.max_images or 32, text=text, code=text)


async def score(pred: str, it: vstar.Item, judge: Any) -> scorers.Scored:
    """DeepEyes' rules, then its judge (1/0); without a judge an undecided answer is wrong."""
    decided = vstar.rule_score(pred, it)
    if decided is not None:
        return scorers.Scored(it.choice if decided else "Z", decided == 1.0, "rule")
    if judge is None:
        return scorers.Scored("Z", False, "no_judge")
    verdict = await judge.judge(vstar.judge_messages(pred, it), vstar.read_judgement, what="Judgement 1/0",
                                temperature=0.0)
    return scorers.Scored(it.choice if verdict == 1.0 else "Z", verdict == 1.0, "judge")


async def evaluate_chunk(cfg: EvalConfig, run: stores.ArtifactStore, ckpt: str, bench: scorers.Benchmark,
                         chunk: list[tsv.Item], engine: loop.Engine, judge: Any, seed: int = 0) -> list[dict[str, Any]]:
    """Roll out `chunk` with `DeepEyesZoom`, score each item as DeepEyes does; the records."""
    items = [vstar_item(i) for i in chunk]
    trajectories = [loop.Trajectory(id=f"{ckpt}-{bench.name}-{i.index}", prompt_id=i.index, question=vstar.prompt(it),
                                    input_images=[i.image], truth=it.truth) for i, it in zip(chunk, items)]
    await loop.rollout(trajectories, engine, DeepEyesZoom(), rollout_settings(cfg), seed=seed)
    records = []
    for item, it, t in zip(chunk, items, trajectories):
        pred = vstar.predicted(t.completion)
        verdict = await score(pred, it, judge)
        content: list[dict[str, Any]] = []
        n = 0
        for segment in t.segments:
            content.append({"type": "text", "text": segment.text})
            for data in segment.images:
                key = outputs.image_key(ckpt, bench.name, item.index, n, data)
                run.put_bytes(key, data)
                content.append({"type": "image", "key": key})
                n += 1
        records.append({
            "benchmark": bench.name, "checkpoint": ckpt, "index": item.index, "row": item.row, "protocol": "deepeyes",
            "question": item.question, "options": item.options, "answer": item.answer,
            "category": item.category, "l2_category": item.l2_category, "cycle_category": item.cycle_category,
            "prediction": pred, "letter": verdict.letter, "correct": verdict.correct, "method": verdict.method,
            "transcript": [{"role": "user", "image": f"{bench.name}.tsv#index={item.index}", "text": t.question},
                           {"role": "assistant", "content": content}],
            "attempts": 1, "fallback": False, "rollbacks": 0, "skips": 0, "tool_calls": t.tool_calls,
            "generations": t.rounds, "finish_reason": t.finish_reason, "failure": t.failure,
            "timing": {"sandbox_seconds": round(t.sandbox_seconds, 4)},
        })
    return records


def report(records: list[dict[str, Any]]) -> dict[str, float]:
    """DeepEyes' V* report of `records`: accuracy in percent per category and overall."""
    return vstar.report((r["category"], 1.0 if r["correct"] else 0.0) for r in records)
