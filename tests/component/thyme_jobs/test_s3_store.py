"""The S3 artifact store against the real MinIO server, including a restart mid-use."""

import threading
import time

import pytest

from thyme_jobs import store


@pytest.fixture
def s3(minio_server, s3_bucket, monkeypatch):
    for k, v in minio_server.env().items():
        monkeypatch.setenv(k, v)
    return store.open_store(f"s3://{s3_bucket}/prefix")


def test_put_get_list_exists_delete(s3, tmp_path):
    s3.put_bytes("runs/ns/r/a.json", b"{}")
    src = tmp_path / "f.bin"
    src.write_bytes(b"z" * 100_000)
    s3.put_file("runs/ns/r/sub/f.bin", src)
    run = store.run_root(s3, "ns", "r")
    assert list(run.list()) == ["a.json", "sub/f.bin"]
    assert run.get_bytes("sub/f.bin") == b"z" * 100_000
    assert run.exists("a.json") and not run.exists("nope")
    run.delete("a.json")
    assert list(run.list()) == ["sub/f.bin"]
    with pytest.raises(store.ObjectNotFound, match="nope"):
        run.get_bytes("nope")
    assert run.location("x") .startswith("s3://") and run.location("x").endswith("/prefix/runs/ns/r/x")


def test_put_survives_a_server_restart(s3, minio_server):
    restarter = threading.Thread(target=minio_server.restart)
    minio_server.stop()
    restarter.start()
    started = time.monotonic()
    s3.put_bytes("after-restart.txt", b"still here")
    restarter.join()
    assert s3.get_bytes("after-restart.txt") == b"still here"
    assert time.monotonic() - started < 60


def test_opening_a_read_only_input_in_a_missing_bucket_is_an_error_naming_the_uri_and_creates_nothing(
        minio_server, s3_bucket, monkeypatch):
    for k, v in minio_server.env().items():
        monkeypatch.setenv(k, v)
    typo = "s3://no-such-bucket-typo/models/base"
    with pytest.raises(store.StoreError, match="s3://no-such-bucket-typo/models/base"):
        store.open_store(typo, read_only=True)
    client = store.s3_client_from_env()
    assert not client.bucket_exists("no-such-bucket-typo")
    # an existing bucket opens read-only, and the run root (written) still creates its bucket
    assert store.open_store(f"s3://{s3_bucket}/models", read_only=True).location() == f"s3://{s3_bucket}/models"
    store.open_store("s3://fresh-run-bucket/runs")
    assert client.bucket_exists("fresh-run-bucket")
    client.remove_bucket("fresh-run-bucket")


def test_a_missing_local_input_is_an_error_naming_it(tmp_path):
    with pytest.raises(store.StoreError, match="nowhere"):
        store.open_store(str(tmp_path / "nowhere"), read_only=True)
    assert not (tmp_path / "nowhere").exists()
