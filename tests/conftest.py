"""Test tiers by directory, and the session-scoped real components.

`tests/unit` -> unit, `tests/component` -> component, `tests/cluster` -> cluster,
`tests/e2e` -> e2e, `tests/gpu` -> gpu. Each tier runs alone with `-m <tier>`. The gpu tier skips itself
without CUDA, so it never runs in CI. Benchmarks under `tests/bench/` are scripts
that print numbers; they are not collected.

The fixtures below start real processes only when a test asks for them, once per
session, and tear them down even when tests fail.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

TIERS = ("unit", "component", "cluster", "e2e", "gpu")
collect_ignore = ["bench"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    cuda = _cuda_available()
    for item in items:
        tier = Path(item.path).relative_to(root).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live under tests/<tier>/ with tier in {TIERS}")
        item.add_marker(getattr(pytest.mark, tier))
        if tier == "gpu" and not cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device (run on a lent accelerator)"))


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator["MinioServer"]:
    """A real MinIO server on a free loopback port, with generated credentials."""
    from testenv.minio_server import MinioServer

    base = tmp_path_factory.mktemp("minio")
    server = MinioServer(data_dir=base / "data", log=base / "minio.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(minio_server) -> Iterator[str]:
    """A fresh, empty bucket per test; removed with its objects afterwards."""
    import uuid

    client = minio_server.client()
    name = "t-" + uuid.uuid4().hex[:12]
    client.make_bucket(name)
    try:
        yield name
    finally:
        for obj in client.list_objects(name, recursive=True):
            client.remove_object(name, obj.object_name)
        client.remove_bucket(name)


@pytest.fixture(scope="session")
def kwok_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator["KwokCluster"]:
    """etcd + kube-apiserver + controller-manager + scheduler, with 2 fake 8-GPU nodes."""
    from testenv.kwok_cluster import KwokCluster

    cluster = KwokCluster(workdir=tmp_path_factory.mktemp("kwok"))
    try:
        cluster.create(nodes=2)
        yield cluster
    finally:
        cluster.delete()


@pytest.fixture(scope="session")
def runsc() -> Path:
    """Debian's gVisor `runsc`, checked to run a trivial command."""
    from testenv.binaries import system_binary

    path = system_binary("runsc", "runsc")
    done = subprocess.run([str(path), "--network=none", "do", "true"], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"runsc cannot run a trivial command: {done.stderr[-2000:]}")
    return path
