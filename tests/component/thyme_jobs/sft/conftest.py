"""Fixtures for the SFT component tests: a tiny model in a store and a converted dataset beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from thyme_jobs import store as stores

from unit.thyme_jobs.sft import sft_fixtures


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from thyme_jobs import tinymodel

    return tinymodel.build(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture
def local_run(tmp_path, tiny_model_dir):
    """A local store with the tiny model at models/tiny and a converted run at runs/ns/r."""
    store = stores.open_store(str(tmp_path / "store"))
    sft_fixtures.upload_model(tiny_model_dir, store)
    sft_fixtures.write_converted(store.child("runs/ns/r"), copies=2)
    return store
