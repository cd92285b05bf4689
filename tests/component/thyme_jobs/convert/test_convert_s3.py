"""The convert stage against the real MinIO server: an s3:// dump in, an s3:// run root out, a restart mid-run."""

from __future__ import annotations

import io
import json
import time

import pytest
from PIL import Image

from thyme_jobs import store as stores

from .conftest import Dump, kill_group, popen_thyme, thyme


@pytest.fixture
def s3_env(minio_server, monkeypatch) -> dict[str, str]:
    env = {**minio_server.env(), "THYME_S3_RETRY_SECONDS": "90"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _upload_dump(dump: Dump, bucket: str) -> str:
    source = stores.open_store(f"s3://{bucket}/dumps/thyme-sft")
    for path in sorted((dump.path / "data").glob("*.parquet")):
        source.put_file(f"data/{path.name}", path)
    return source.location()


def _check_run(run: stores.ArtifactStore, dump: Dump) -> None:
    """Every split committed, counts right, every row's images present, decodable and located in S3."""
    stage = stores.get_json(run, "data/manifest.json")
    assert stage["rows"] + stage["rejected"] == sum(dump.counts.values())
    for split, broken in dump.corrupt.items():
        manifest = stores.get_json(run, f"data/{split}/manifest.json")
        assert manifest["rejected"] == len(broken)
        rows = [json.loads(line) for key in manifest["jsonl"] for line in run.get_bytes(key).decode().splitlines()]
        assert len(rows) == manifest["rows"] == dump.counts[split] - len(broken)
        for row in rows:
            assert f'User Image Path:** "{run.location(row["images"][0])}"' in row["question"]
            assert row["question"].count('"s3://') == 1
            for key in row["images"]:
                with Image.open(io.BytesIO(run.get_bytes(key))) as img:
                    img.load()
                    assert img.format == "JPEG" and img.mode == "RGB"


def test_s3_dump_converts_into_s3_run_root(small_dump: Dump, s3_bucket: str, s3_env: dict[str, str]) -> None:
    source = _upload_dump(small_dump, s3_bucket)
    dest = f"s3://{s3_bucket}/runs/ns/demo"
    thyme("convert", source, dest, "--num-shards", "2", "--workers", "2", env=s3_env)
    run = stores.open_store(dest)
    _check_run(run, small_dump)
    before = {key: run.get_bytes(key) for key in run.list()}
    thyme("convert", source, dest, "--num-shards", "2", "--workers", "2", env=s3_env)
    assert {key: run.get_bytes(key) for key in run.list()} == before


def test_minio_restart_mid_run_is_survived(small_dump: Dump, s3_bucket: str, s3_env: dict[str, str],
                                           minio_server, tmp_path) -> None:
    dest = f"s3://{s3_bucket}/runs/ns/restart"
    run = stores.open_store(dest)
    proc = popen_thyme("convert", str(small_dump.path), dest, "--num-shards", "3", "--workers", "1", log=tmp_path / "thyme.log", env=s3_env)
    try:
        deadline = time.monotonic() + 120
        while not any("/images/" in key for key in run.list("data/")):
            assert proc.poll() is None and time.monotonic() < deadline, "convert ended before it stored an image"
            time.sleep(0.01)
        minio_server.stop()
        # Longer than the minio client's own urllib3 retries (about 6 s), so the store's retries must carry it.
        time.sleep(8)
        assert proc.poll() is None, "convert gave up while the store was down"
        minio_server.start()
        assert proc.wait(timeout=180) == 0, (tmp_path / "thyme.log").read_text()[-4000:]
        assert "retrying in" in (tmp_path / "thyme.log").read_text(), "the run never met the stopped store"
    finally:
        if proc.poll() is None:
            kill_group(proc)
    _check_run(run, small_dump)
