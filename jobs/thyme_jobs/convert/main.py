"""The convert stage's I/O shell: stream the dump, run the per-row transform in a process pool, store, commit.

Order of writes for one (split, shard), which is what makes a rerun safe:
  1. images, uploaded while later rows decode (`uploads.Uploader`);
  2. once every upload is confirmed: `rows.jsonl` and `rejects.jsonl`;
  3. `done.json`, the shard's commit point.
A run killed anywhere before 3 leaves no marker, so the rerun redoes that shard and
overwrites its objects with the same bytes (keys and contents are deterministic);
shards with a marker are skipped. Merging (split manifests, then `data/manifest.json`)
follows the rule in `config.py`.

Rows are submitted to the pool in dump order and collected in that order, with a
bounded number in flight, so memory stays flat and `rows.jsonl` is byte-identical
from run to run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import tempfile
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from thyme_jobs import store as stores
from thyme_jobs.convert import manifests, sharding, sources, transform
from thyme_jobs.convert.config import ConvertConfig
from thyme_jobs.convert.reporting import Report, ShardLine, ShardProgress
from thyme_jobs.convert.uploads import Uploader

log = logging.getLogger(__name__)


class ConvertError(RuntimeError):
    """The run cannot go on as configured; the message says what to change."""


def run(config: ConvertConfig, report: Report | None = None) -> manifests.StageManifest | None:
    """Convert what this invocation owns, then merge if every shard is done. None when shards are missing."""
    report = report or Report()
    out = stores.open_store(config.run_root)
    if out.exists(manifests.STAGE_MANIFEST_KEY):
        report.console.log(f"{out.location(manifests.STAGE_MANIFEST_KEY)} exists: convert already finished")
        return manifests.StageManifest.model_validate(stores.get_json(out, manifests.STAGE_MANIFEST_KEY))
    src = stores.open_store(config.source)
    units = sharding.work_units(sources.list_dump(src, config.splits))
    if not config.merge:
        shards = [config.shard] if config.shard is not None else list(range(config.num_shards))
        _convert_shards(config, src, out, units, shards, report)
    manifest = merge(out, config, sorted(units))
    report.summary("finished" if manifest else "this shard finished; waiting for the other shards to merge")
    return manifest


def _convert_shards(config: ConvertConfig, src: stores.ArtifactStore, out: stores.ArtifactStore,
                    units: dict[str, list[sharding.WorkUnit]], shards: list[int], report: Report) -> None:
    todo = [(split, shard) for shard in shards for split in sorted(units)]
    pending = [(split, shard) for split, shard in todo if not _is_done(out, split, shard, config.num_shards)]
    for split, shard in todo:
        if (split, shard) not in pending:
            report.shard_done(ShardLine(split, shard, manifests.Counts(), 0.0, 0, skipped=True))
    if not pending:
        return
    context = multiprocessing.get_context("spawn")  # threads (uploads, progress) make fork unsafe
    with ProcessPoolExecutor(config.worker_count(), mp_context=context) as pool, Uploader(out) as uploader, \
            report.progress() as progress:
        for split, shard in pending:
            mine = sharding.shard_units(units[split], shard, config.num_shards)
            advance = ShardProgress(progress, f"{split} [{shard}/{config.num_shards}]", sum(u.rows for u in mine))
            started = time.monotonic()
            counts, source_bytes = _convert_shard(config, src, out, pool, uploader, split, shard, mine, advance)
            report.shard_done(ShardLine(split, shard, counts, time.monotonic() - started, source_bytes))


def _is_done(out: stores.ArtifactStore, split: str, shard: int, num_shards: int) -> bool:
    key = manifests.done_key(split, shard)
    if not out.exists(key):
        return False
    done = manifests.ShardDone.model_validate(stores.get_json(out, key))
    if done.num_shards != num_shards:
        raise ConvertError(f"{out.location(key)} was written with num_shards={done.num_shards}, this run has "
                           f"{num_shards}; rerun with --num-shards {done.num_shards} or use a fresh run root")
    return True


class _ShardOutput:
    """One (split, shard)'s results as they arrive: images to the uploader, JSONL spooled to local files."""

    def __init__(self, tmp: str, uploader: Uploader) -> None:
        self.rows_path, self.rejects_path = Path(tmp, "rows.jsonl"), Path(tmp, "rejects.jsonl")
        self.rows_file, self.rejects_file = self.rows_path.open("wb"), self.rejects_path.open("wb")
        self.uploader = uploader
        self.counts = manifests.Counts()
        self.source_bytes = 0
        self.image_digest = hashlib.sha256()

    def add(self, result: transform.RowResult) -> None:
        self.source_bytes += result.source_bytes
        if result.reject is not None:
            self.rejects_file.write(_jsonl(result.reject))
            self.counts = self.counts.plus(manifests.Counts(rejected=1))
            return
        for key, data in result.files:
            self.uploader.submit(key, data)
            self.image_digest.update(f"{key} {hashlib.sha256(data).hexdigest()}\n".encode())
        self.rows_file.write(_jsonl(result.row))
        self.counts = self.counts.plus(manifests.Counts(
            rows=1, images=len(result.files), image_bytes=sum(len(d) for _, d in result.files),
            reencoded=result.reencoded))

    def close(self) -> dict[str, str]:
        """Close the spool files; their checksums and the image list's."""
        self.rows_file.close()
        self.rejects_file.close()
        return {"rows.jsonl": _sha256(self.rows_path), "rejects.jsonl": _sha256(self.rejects_path),
                "images": self.image_digest.hexdigest()}


def _convert_shard(config: ConvertConfig, src: stores.ArtifactStore, out: stores.ArtifactStore,
                   pool: ProcessPoolExecutor, uploader: Uploader, split: str, shard: int,
                   units: list[sharding.WorkUnit], advance: ShardProgress) -> tuple[manifests.Counts, int]:
    """Convert one (split, shard) and commit it with its done marker."""
    prefix = manifests.shard_prefix(split, shard)
    in_flight: deque[Future] = deque()
    # One row queued per worker beyond the one it works on keeps every worker busy; more only costs memory.
    limit = 2 * config.worker_count()
    with tempfile.TemporaryDirectory(prefix="thyme-convert-") as tmp:
        output = _ShardOutput(tmp, uploader)

        def collect() -> None:
            result: transform.RowResult = in_flight.popleft().result()
            output.add(result)
            advance(1, result.source_bytes)

        try:
            for unit in units:
                for row_in_file, row in sources.iter_rows(src, unit, config.batch_rows):
                    in_flight.append(pool.submit(transform.convert_row, _task(out, unit, row_in_file, row)))
                    while len(in_flight) >= limit:
                        collect()
            while in_flight:
                collect()
        finally:
            checksums = output.close()
        uploader.drain()  # every image is stored before any row that names it is committed
        done = manifests.ShardDone(
            split=split, shard=shard, num_shards=config.num_shards, units=[(u.stem, u.row_group) for u in units],
            counts=output.counts, rows_key=f"{prefix}/rows.jsonl", rejects_key=f"{prefix}/rejects.jsonl",
            checksums=checksums)
        out.put_file(done.rows_key, output.rows_path)
        out.put_file(done.rejects_key, output.rejects_path)
    stores.put_json(out, manifests.done_key(split, shard), done.model_dump(mode="json"))
    return output.counts, output.source_bytes


def _task(out: stores.ArtifactStore, unit: sharding.WorkUnit, row_in_file: int, row: dict) -> transform.RowTask:
    images = list(row["image"] or [])
    keys = [transform.image_key(unit.split, unit.stem, row_in_file, i) for i in range(len(images))]
    return transform.RowTask(
        split=unit.split, stem=unit.stem, row_in_file=row_in_file,
        row_in_split=unit.first_row_in_split + row_in_file - unit.first_row_in_file,
        images=images, question=row["question"] or "", response=row["response"] or "",
        image_keys=keys, image0_location=out.location(keys[0]) if keys else "")


def merge(out: stores.ArtifactStore, config: ConvertConfig, splits: list[str]) -> manifests.StageManifest | None:
    """Write each split's manifest once all its done markers exist, then the stage's manifest."""
    merged = []
    for split in splits:
        keys = [manifests.done_key(split, i) for i in range(config.num_shards)]
        missing = [i for i, key in enumerate(keys) if not out.exists(key)]
        if missing:
            if config.merge:
                raise ConvertError(f"split {split}: shards {missing} have no done marker yet; run them first")
            continue
        manifest = manifests.merge_split([manifests.ShardDone.model_validate(stores.get_json(out, k)) for k in keys])
        stores.put_json(out, manifests.split_manifest_key(split), manifest.model_dump(mode="json"))
        merged.append(manifest)
    if len(merged) != len(splits):
        return None
    stage = manifests.stage_manifest(config.source, config.num_shards, merged)
    stores.put_json(out, manifests.STAGE_MANIFEST_KEY, stage.model_dump(mode="json"))
    return stage


def _jsonl(obj: dict) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode() + b"\n"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
