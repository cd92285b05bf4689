"""Where a model-backed tool's weights come from: an HF model directory in the store.

Clusters that train models are often air-gapped, so nothing here reaches a model hub:
`model` is an `s3://bucket/prefix` URI (copied once into a local cache) or a local path.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from thyme_jobs import store as stores


def local_model_dir(uri: str, cache: str | None = None) -> Path:
    """A local directory holding the model `uri` names; copied from the store when remote."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else uri)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"model {uri!r} holds no config.json: point `model` at an HF model directory")
        return path
    base = Path(cache) if cache else Path(tempfile.gettempdir()) / "thyme-tool-models"
    local = base / hashlib.sha256(uri.encode()).hexdigest()[:16]
    if (local / ".complete").is_file():
        return local
    store = stores.open_store(uri)
    n = 0
    for key in store.list(""):
        store.get_file(key, local / key)
        n += 1
    if not (local / "config.json").is_file():
        raise FileNotFoundError(f"{store.location()} holds no config.json ({n} files): `model` must point at an "
                                "HF model directory")
    (local / ".complete").write_text(uri + "\n")
    return local
