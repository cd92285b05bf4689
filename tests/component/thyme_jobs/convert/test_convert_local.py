"""The convert stage end to end on a local run root: contents, rejects, reruns, sharded pods, a killed run."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image
from rich.console import Console

from thyme_jobs import store as stores
from thyme_jobs.convert import config, main
from thyme_jobs.convert.reporting import Report
from thyme_operator import exits

from reference_conversion import reference_jpeg

from .conftest import Dump, kill_group, popen_thyme, thyme


def _quiet() -> Report:
    return Report(console=Console(file=io.StringIO()))


def _convert(dump: Dump, root: Path, **fields) -> object:
    cfg = config.ConvertConfig(source=str(dump.path), run_root=str(root), workers=2, **fields)
    return main.run(cfg, _quiet())


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _source_rows(dump: Dump) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for f in sorted((dump.path / "data").glob("*.parquet")):
        rows.setdefault(f.name.rsplit("-", 3)[0], []).extend(pq.read_table(f).to_pylist())
    return rows


def _read_rows(root: Path, split: str) -> list[dict]:
    manifest = json.loads((root / f"data/{split}/manifest.json").read_text())
    return [json.loads(line) for key in manifest["jsonl"] for line in (root / key).read_text().splitlines()]


def test_converted_rows_images_and_counts_match_the_dump(small_dump: Dump, tmp_path: Path) -> None:
    root = tmp_path / "run"
    stage = _convert(small_dump, root, num_shards=2)
    source = _source_rows(small_dump)
    assert stage.rows + stage.rejected == sum(small_dump.counts.values())
    out = stores.LocalStore(root)
    for split, rows in source.items():
        converted = _read_rows(root, split)
        manifest = json.loads((root / f"data/{split}/manifest.json").read_text())
        assert manifest["rows"] == len(converted) and manifest["rejected"] == len(small_dump.corrupt[split])
        assert len(converted) == len(rows) - len(small_dump.corrupt[split])
        for row in converted:
            stem, index = row["id"].split("/")[1], int(row["id"].split("/")[2])
            offset = sum(pq.ParquetFile(f).metadata.num_rows for f in sorted((small_dump.path / "data").glob(
                f"{split}-*.parquet")) if f.stem < stem)
            original = rows[offset + index]
            assert offset + index not in small_dump.corrupt[split]
            assert len(row["images"]) == len(original["image"])
            for key, b64 in zip(row["images"], original["image"]):
                raw = base64.b64decode(b64)
                with Image.open(io.BytesIO(raw)) as img:
                    keep = img.format == "JPEG" and img.mode == "RGB"
                assert (root / key).read_bytes() == (raw if keep else reference_jpeg(raw))
            assert f'User Image Path:** "{out.location(row["images"][0])}"' in row["question"]
            assert "/mllm_hdd" not in row["question"] + row["response"]
            assert "/mnt/data/temp_processed_images/" in row["response"]


def test_corrupt_rows_are_reported_and_never_stored(small_dump: Dump, tmp_path: Path) -> None:
    root = tmp_path / "run"
    _convert(small_dump, root)
    for split, broken in small_dump.corrupt.items():
        rejects = [json.loads(line) for line in (root / f"data/{split}/shards/0/rejects.jsonl").read_text().splitlines()]
        assert sorted(r["row"] for r in rejects) == broken
        assert all(r["split"] == split and r["reason"].startswith("image ") for r in rejects)
        rejected_ids = {r["id"] for r in rejects}
        assert not rejected_ids & {row["id"] for row in _read_rows(root, split)}
        for r in rejects:  # none of a rejected row's images was written
            assert not list((root / f"data/{split}/images/{r['file']}").glob(f"{r['row_in_file']:08d}_*.jpg"))


def test_rerun_skips_everything_and_changes_nothing(small_dump: Dump, tmp_path: Path) -> None:
    root = tmp_path / "run"
    _convert(small_dump, root, num_shards=2)
    before = _snapshot(root)
    _convert(small_dump, root, num_shards=2)
    assert _snapshot(root) == before
    # Without the manifests, every shard is still skipped by its done marker and the merge agrees.
    for split in small_dump.counts:
        (root / f"data/{split}/manifest.json").unlink()
    (root / "data/manifest.json").unlink()
    _convert(small_dump, root, num_shards=2)
    after = _snapshot(root)
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    assert all(after[k][1] == before[k][1] for k in after if "/shards/" in k or "/images/" in k)


def test_pods_convert_their_shards_and_the_last_one_merges(small_dump: Dump, tmp_path: Path) -> None:
    whole, pods = tmp_path / "whole", tmp_path / "pods"
    _convert(small_dump, whole, num_shards=3)
    env = {"THYME_STAGE_CONFIG": json.dumps({"source": str(small_dump.path), "run_root": str(pods),
                                             "num_shards": 3, "workers": 1})}
    for index in (2, 0):
        thyme("convert", env={**env, "JOB_COMPLETION_INDEX": str(index)})
        assert not (pods / "data/manifest.json").exists()
    assert "waiting for the other shards" in thyme("convert", "--shard", "0", env=env).stderr
    thyme("convert", env={**env, "JOB_COMPLETION_INDEX": "1"})
    assert _without_root(pods) == _without_root(whole)


def _without_root(root: Path) -> dict[str, object]:
    """Files with the run root's own path taken out (rows name it, so their checksums differ by root)."""
    files: dict[str, object] = {}
    for key, (data, _) in _snapshot(root).items():
        if key.endswith(("done.json", "manifest.json")):
            record = json.loads(data)
            record.pop("checksums", None)
            files[key] = record
        else:
            files[key] = data.replace(str(root).encode(), b"ROOT")
    return files


def test_merge_only_refuses_while_shards_are_missing(small_dump: Dump, tmp_path: Path) -> None:
    root = tmp_path / "run"
    thyme("convert", str(small_dump.path), str(root), "--num-shards", "2", "--shard", "1", "--workers", "1")
    done = thyme("convert", str(small_dump.path), str(root), "--num-shards", "2", "--merge", check=False)
    assert done.returncode == exits.USAGE_ERROR and "shards [0] have no done marker" in done.stderr


def test_changing_num_shards_on_a_started_run_is_refused(small_dump: Dump, tmp_path: Path) -> None:
    root = tmp_path / "run"
    thyme("convert", str(small_dump.path), str(root), "--num-shards", "2", "--shard", "0", "--workers", "1")
    done = thyme("convert", str(small_dump.path), str(root), "--num-shards", "3", check=False)
    assert done.returncode == exits.USAGE_ERROR and "num_shards=2" in done.stderr


def test_unknown_split_is_an_error_naming_the_splits(small_dump: Dump, tmp_path: Path) -> None:
    done = thyme("convert", str(small_dump.path), str(tmp_path / "r"), "--splits", "nope", check=False)
    assert done.returncode == exits.USAGE_ERROR and "['nope']" in done.stderr and "2round" in done.stderr


def test_killed_run_redoes_only_the_unfinished_shard(slow_dump: Dump, tmp_path: Path) -> None:
    root = tmp_path / "run"
    args = ("convert", str(slow_dump.path), str(root), "--num-shards", "2", "--workers", "1")
    thyme(*args)
    clean = {k: v[0] for k, v in _snapshot(root).items()}
    for p in sorted(root.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()

    proc = popen_thyme(*args, log=tmp_path / "thyme.log")
    deadline = time.monotonic() + 120
    while not list(root.glob("data/*/shards/*/done.json")):
        assert proc.poll() is None and time.monotonic() < deadline, "convert ended before any shard was done"
        time.sleep(0.005)
    kill_group(proc)
    assert not (root / "data/manifest.json").exists(), "the run finished before it could be interrupted"
    finished = {k: v for k, v in _snapshot(root).items() if k.endswith("done.json")}
    assert 0 < len(finished) < 6

    thyme(*args)
    resumed = _snapshot(root)
    assert {k: v[0] for k, v in resumed.items() if not k.endswith(".part")} == clean
    assert all(resumed[k][1] == v[1] for k, v in finished.items()), "a finished shard was redone"


def test_a_dump_file_missing_a_column_stops_the_run_with_its_name(small_dump: Dump, tmp_path: Path) -> None:
    # The file is read on the feeder thread; its error must still end the run cleanly, naming the file.
    dump = tmp_path / "dump"
    (dump / "data").mkdir(parents=True)
    for f in sorted((small_dump.path / "data").glob("2round-*.parquet")):
        pq.write_table(pq.read_table(f).drop_columns(["response"]), dump / "data" / f.name)
    started = time.monotonic()
    done = thyme("convert", str(dump), str(tmp_path / "run"), check=False)
    assert done.returncode == exits.USAGE_ERROR, done.stderr[-2000:]
    assert "2round-00000-of-00002.parquet lacks columns ['response']" in done.stderr.strip().splitlines()[-1]
    assert time.monotonic() - started < 300   # ends, instead of hanging on the feeder thread
    assert not list((tmp_path / "run").rglob("done.json"))
