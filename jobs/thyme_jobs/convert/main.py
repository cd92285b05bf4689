"""The convert stage's I/O shell: stream the dump, run the per-row transform in a process pool, store, commit.

Order of writes for one (split, shard), which is what makes a rerun safe:
  1. images, uploaded while later rows decode (`uploads.Uploader`);
  2. once every upload is confirmed: `rows.jsonl` and `rejects.jsonl`;
  3. `done.json`, the shard's commit point.
A run killed anywhere before 3 leaves no marker, so the rerun redoes that shard and
overwrites its objects with the same bytes (keys and contents are deterministic);
shards with a marker are skipped. Merging (split manifests, then `data/manifest.json`)
follows the rule in `config.py`.

A feeder thread reads the dump and submits rows to the pool in dump order; the main
thread collects them in that order, so `rows.jsonl` is byte-identical from run to run.
The base64 in flight is capped (`in_flight_mb`), so memory stays flat; the feeder runs
ahead across row groups and (split, shard) boundaries, so the workers never wait for a
commit or for the next group's first read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import queue
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
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
    src = stores.open_store(config.source, read_only=True)
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
    jobs = [_Job(split, shard, sharding.shard_units(units[split], shard, config.num_shards)) for split, shard in pending]
    workers = config.worker_count()
    context = multiprocessing.get_context("spawn")  # threads (uploads, progress) make fork unsafe
    with ProcessPoolExecutor(workers, mp_context=context) as pool, Uploader(out) as uploader, \
            report.progress() as progress:
        for _ in range(workers):  # start the workers while the feeder reads the first row group
            pool.submit(transform.warm_up)
        feeder = _Feeder(config, src, out, pool, jobs)
        feeder.start()
        try:
            _collect(config, out, uploader, progress, feeder, report)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            feeder.stop()


def _collect(config: ConvertConfig, out: stores.ArtifactStore, uploader: Uploader, progress, feeder: "_Feeder",
             report: Report) -> None:
    """Take results in dump order and commit each (split, shard) as soon as its last row is in."""
    with tempfile.TemporaryDirectory(prefix="thyme-convert-") as tmp:
        current: tuple[_Job, _ShardOutput, ShardProgress, float] | None = None
        for job, item in feeder.results():
            if current is None or current[0] is not job:
                output = _ShardOutput(str(Path(tmp, f"{job.split}-{job.shard}")), uploader)
                advance = ShardProgress(progress, f"{job.split} [{job.shard}/{config.num_shards}]", job.rows)
                current = (job, output, advance, time.monotonic())
            _, output, advance, started = current
            if item is None:  # the job's last row has been collected
                counts = _commit(config, out, uploader, job, output)
                report.shard_done(ShardLine(job.split, job.shard, counts, time.monotonic() - started,
                                            output.source_bytes))
                current = None
                continue
            future, size = item
            result: transform.RowResult = future.result()
            feeder.window.release(size)
            output.add(result)
            advance(1, result.source_bytes)


def _is_done(out: stores.ArtifactStore, split: str, shard: int, num_shards: int) -> bool:
    key = manifests.done_key(split, shard)
    if not out.exists(key):
        return False
    done = manifests.ShardDone.model_validate(stores.get_json(out, key))
    if done.num_shards != num_shards:
        raise ConvertError(f"{out.location(key)} was written with num_shards={done.num_shards}, this run has "
                           f"{num_shards}; rerun with --num-shards {done.num_shards} or use a fresh run root")
    return True


@dataclass(eq=False)
class _Job:
    """One (split, shard) to convert and the work units it owns."""

    split: str
    shard: int
    units: list[sharding.WorkUnit]

    @property
    def rows(self) -> int:
        return sum(u.rows for u in self.units)


class _Window:
    """A cap on the base64 bytes submitted to the pool and not yet collected.

    Why bytes and not rows: rows range from a few kB to tens of MB. The cap is what lets
    the feeder run ahead across a row-group boundary (the next group's first read takes
    about half a second for 400 MB) without letting memory grow with the dump.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._used = 0
        self._room = threading.Condition()
        self.stopped = False

    def acquire(self, size: int) -> bool:
        """Wait for room for `size` bytes (always room when nothing is in flight); False once stopped."""
        with self._room:
            self._room.wait_for(lambda: self.stopped or self._used == 0 or self._used + size <= self.max_bytes)
            if self.stopped:
                return False
            self._used += size
            return True

    def release(self, size: int) -> None:
        with self._room:
            self._used -= size
            self._room.notify_all()

    def stop(self) -> None:
        with self._room:
            self.stopped = True
            self._room.notify_all()


class _Feeder:
    """Reads the dump on a thread of its own and submits rows to the pool, in dump order.

    The collector gets (job, (future, size)) per row and (job, None) after a job's last
    row, through an unbounded queue whose length the window bounds. pyarrow releases the
    GIL while it reads, so reading overlaps with collecting and storing; any error here
    (a missing column, a store that stays down) is handed to the collector and raised there.
    """

    def __init__(self, config: ConvertConfig, src: stores.ArtifactStore, out: stores.ArtifactStore,
                 pool: ProcessPoolExecutor, jobs: list[_Job]) -> None:
        self.config, self.src, self.out, self.pool, self.jobs = config, src, out, pool, jobs
        self.window = _Window(config.in_flight_mb << 20)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="convert-feeder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.window.stop()
        self._thread.join()

    def _run(self) -> None:
        try:
            for job in self.jobs:
                for unit in job.units:
                    for row_in_file, row in sources.iter_rows(self.src, unit, self.config.batch_rows):
                        task = _task(self.out, unit, row_in_file, row)
                        size = sum(len(i) for i in task.images)
                        if not self.window.acquire(size):
                            return
                        self._queue.put((job, (self.pool.submit(transform.convert_row, task), size)))
                self._queue.put((job, None))
            self._queue.put(None)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the collector
            self._queue.put(exc)

    def results(self) -> Iterator[tuple[_Job, tuple[Future, int] | None]]:
        while (item := self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item


class _ShardOutput:
    """One (split, shard)'s results as they arrive: images to the uploader, JSONL spooled to local files."""

    def __init__(self, tmp: str, uploader: Uploader) -> None:
        Path(tmp).mkdir()
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
        for file in result.files:
            self.uploader.submit(file.key, file.data)
            self.image_digest.update(f"{file.key} {file.sha256}\n".encode())
        self.rows_file.write(_jsonl(result.row))
        self.counts = self.counts.plus(manifests.Counts(
            rows=1, images=len(result.files), image_bytes=sum(len(f.data) for f in result.files),
            reencoded=result.reencoded))

    def close(self) -> dict[str, str]:
        """Close the spool files; their checksums and the image list's."""
        self.rows_file.close()
        self.rejects_file.close()
        return {"rows.jsonl": _sha256(self.rows_path), "rejects.jsonl": _sha256(self.rejects_path),
                "images": self.image_digest.hexdigest()}


def _commit(config: ConvertConfig, out: stores.ArtifactStore, uploader: Uploader, job: _Job,
            output: _ShardOutput) -> manifests.Counts:
    """Store the job's JSONL once every image it names is stored, then its done marker."""
    checksums = output.close()
    uploader.drain()  # every image is stored before any row that names it is committed
    prefix = manifests.shard_prefix(job.split, job.shard)
    done = manifests.ShardDone(
        split=job.split, shard=job.shard, num_shards=config.num_shards,
        units=[(u.stem, u.row_group) for u in job.units], counts=output.counts,
        rows_key=f"{prefix}/rows.jsonl", rejects_key=f"{prefix}/rejects.jsonl", checksums=checksums)
    out.put_file(done.rows_key, output.rows_path)
    out.put_file(done.rejects_key, output.rejects_path)
    stores.put_json(out, manifests.done_key(job.split, job.shard), done.model_dump(mode="json"))
    return output.counts


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
