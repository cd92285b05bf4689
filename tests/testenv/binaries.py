"""Where the self-built component binaries live, and a loud error when one is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CACHE = Path(os.environ.get("THYME_CACHE", Path.home() / ".cache" / "thyme"))
BIN = CACHE / "bin"


class MissingBinary(RuntimeError):
    """A component binary is not built; the message says how to build it."""


def binary(name: str) -> Path:
    """Path of a cached component binary (`kube-apiserver`, `minio`, `kwokctl`, ...)."""
    path = BIN / name
    if path.exists() and os.access(path, os.X_OK):
        return path.resolve()
    raise MissingBinary(
        f"{name} is not in {BIN}; run `bash tests/env/build-components.sh` "
        "(or `make test`, which runs it) to build the pinned versions"
    )


def system_binary(name: str, package: str) -> Path:
    """Path of a binary that a Debian package provides (runsc)."""
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if not found:
        raise MissingBinary(f"{name} not found; install Debian's `{package}` (tests/env/system-packages.sh does)")
    return Path(found)
