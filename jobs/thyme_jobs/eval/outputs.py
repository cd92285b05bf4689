"""Where evaluation results live in the store, and the merge that commits them.

Under the run root (docs/contracts.md):

```
eval/<checkpoint>/<benchmark>/shards/<k>/part-<first row>.jsonl  one record per item, committed per chunk
eval/<checkpoint>/<benchmark>/shards/<k>/done.json               the shard's commit point (its broken rows too)
eval/<checkpoint>/<benchmark>/images/<index>/<n>.<ext>           images the sandbox returned
eval/<checkpoint>/<benchmark>/results.json                       accuracy and the benchmark's breakdown
eval/summary.json  eval/summary.md  eval/summary.png              checkpoints x benchmarks beside the paper
eval/manifest.json                                                the stage's commit point, written last
```

Resume: a part file is put atomically after its items are scored, so a restarted shard
reads the indices already in its parts and never recomputes them. Merge: whichever
shard finds every shard's `done.json` of every (checkpoint, benchmark) writes the
results, the summary and the manifest; their bytes depend only on the parts, so two
shards merging at once write the same thing.
"""

from __future__ import annotations

import json
from typing import Any

from thyme_jobs import store as stores
from thyme_jobs.eval import reports, scorers

ROOT = "eval"
MANIFEST = "eval/manifest.json"


def checkpoint_label(name: str) -> str:
    """A store-safe name: base, sft/final -> sft, rl/final -> rl, other keys/URIs by their path."""
    if name in ("base", "sft/final", "rl/final"):
        return name.split("/")[0]
    tail = name.split("://", 1)[-1].strip("/")
    return tail.replace("/", "-") or "model"


def bench_prefix(checkpoint: str, benchmark: str) -> str:
    return stores.join(ROOT, checkpoint, benchmark)


def shard_prefix(checkpoint: str, benchmark: str, shard: int) -> str:
    return stores.join(bench_prefix(checkpoint, benchmark), "shards", f"{shard:04d}")


def done_key(checkpoint: str, benchmark: str, shard: int) -> str:
    return stores.join(shard_prefix(checkpoint, benchmark, shard), "done.json")


def part_key(checkpoint: str, benchmark: str, shard: int, first_row: int) -> str:
    return stores.join(shard_prefix(checkpoint, benchmark, shard), f"part-{first_row:08d}.jsonl")


def image_key(checkpoint: str, benchmark: str, index: str, n: int, data: bytes) -> str:
    ext = "png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "jpg"
    return stores.join(bench_prefix(checkpoint, benchmark), "images", _safe(index), f"{n:02d}.{ext}")


def _safe(index: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in index)


def part_keys(run: stores.ArtifactStore, checkpoint: str, benchmark: str, shard: int) -> list[str]:
    prefix = shard_prefix(checkpoint, benchmark, shard)
    return sorted(k for k in run.list(prefix) if k.rsplit("/", 1)[-1].startswith("part-") and k.endswith(".jsonl"))


def read_records(run: stores.ArtifactStore, keys: list[str]) -> list[dict[str, Any]]:
    out = []
    for key in keys:
        out += [json.loads(line) for line in run.get_bytes(key).decode().splitlines() if line.strip()]
    return out


def done_indices(run: stores.ArtifactStore, checkpoint: str, benchmark: str, shard: int) -> set[str]:
    return {r["index"] for r in read_records(run, part_keys(run, checkpoint, benchmark, shard))}


def write_part(run: stores.ArtifactStore, key: str, records: list[dict[str, Any]]) -> None:
    run.put_bytes(key, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())


def results(benchmark: str, records: list[dict[str, Any]], malformed: list[dict[str, Any]]) -> dict[str, Any]:
    """results.json of one (checkpoint, benchmark): the benchmark's report plus counts."""
    bench = scorers.benchmark(benchmark)
    rows = [scorers.Row(bool(r["correct"]), r.get("category", ""), r.get("l2_category", ""),
                        r.get("cycle_category", "")) for r in sorted(records, key=lambda r: r["row"])]
    out: dict[str, Any] = {"benchmark": benchmark, **scorers.report(bench, rows)}
    methods: dict[str, int] = {}
    for r in records:
        methods[r["method"]] = methods.get(r["method"], 0) + 1
    out["headline"] = scorers.headline(bench, out)
    out["scored_by"] = dict(sorted(methods.items()))
    out["fallbacks"] = sum(1 for r in records if r.get("fallback"))
    out["rollbacks"] = sum(r.get("rollbacks", 0) for r in records)
    out["tool_calls"] = sum(r.get("tool_calls", 0) for r in records)
    out["failures"] = sum(1 for r in records if r.get("failure"))
    out["malformed_rows"] = sorted(malformed, key=lambda m: m["row"])
    return out


def try_merge(run: stores.ArtifactStore, plan: dict[str, Any]) -> dict[str, Any] | None:
    """Write results, summary and manifest when every shard of the plan is done; else None.

    `plan` is {"checkpoints": [labels], "benchmarks": [names], "num_shards": n, ...}.
    """
    per: dict[str, dict[str, dict[str, Any]]] = {}
    for ckpt in plan["checkpoints"]:
        per[ckpt] = {}
        for bench in plan["benchmarks"]:
            dones = []
            for shard in range(plan["num_shards"]):
                key = done_key(ckpt, bench, shard)
                if not run.exists(key):
                    return None
                dones.append(stores.get_json(run, key))
            keys = [k for shard in range(plan["num_shards"]) for k in part_keys(run, ckpt, bench, shard)]
            malformed = [m for d in dones for m in d.get("malformed", [])]
            res = results(bench, read_records(run, keys), malformed)
            res["parts"] = keys
            stores.put_json(run, stores.join(bench_prefix(ckpt, bench), "results.json"), res)
            per[ckpt][bench] = res
    doc = reports.summary(per)
    stores.put_json(run, "eval/summary.json", doc)
    run.put_bytes("eval/summary.md", reports.markdown(doc).encode())
    run.put_bytes("eval/summary.png", reports.bar_chart(doc))
    manifest = {
        "stage": "eval",
        "checkpoints": plan["checkpoints"],
        "checkpoint_sources": plan.get("sources", {}),
        "benchmarks": plan["benchmarks"],
        "num_shards": plan["num_shards"],
        "headline": reports.headline_line(doc),
        "accuracy": {c: {b: r["overall"] for b, r in bs.items()} for c, bs in per.items()},
        "summary": {"json": "eval/summary.json", "markdown": "eval/summary.md", "chart": "eval/summary.png"},
        "results": {c: {b: stores.join(bench_prefix(c, b), "results.json") for b in bs} for c, bs in per.items()},
        "config": plan.get("config", {}),
    }
    stores.put_json(run, MANIFEST, manifest)
    return manifest
