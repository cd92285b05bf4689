"""Real parts for the eval component tests: the tiny random Qwen2.5-VL and the sandbox service under runsc."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from thyme_jobs import tinymodel

    return tinymodel.build(tmp_path_factory.mktemp("tiny-vl") / "model", seed=0)


@pytest.fixture(scope="session")
def sandbox_url(runsc) -> Iterator[str]:
    from thyme_sandbox.serving import InProcessServer
    from thyme_sandbox.settings import SandboxSettings

    settings = SandboxSettings(runsc=str(runsc), pool_size=2, max_starts=2, call_timeout=10,
                               acquire_timeout=60, stdout_limit=4096)
    server = InProcessServer(settings).start()
    try:
        yield server.url
    finally:
        server.stop()
