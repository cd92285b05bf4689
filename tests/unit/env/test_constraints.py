"""The lock (constraints.txt): what the test venv and every image install from.

It must pin, exactly, every package pyproject.toml names outside the GPU-only extra,
at a version its floor allows, so a floor raised without re-locking (tests/env/lock.sh)
fails here and not on a fresh machine; and every installer must read it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
GPU_ONLY = {"vllm", "flash-attn"}   # CUDA builds; the GPU image resolves them against the locked torch


def locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt: {line!r} is not an exact pin (name==version)"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def requirements() -> list[Requirement]:
    groups = [PYPROJECT["dependencies"], *PYPROJECT["optional-dependencies"].values()]
    return [r for group in groups for r in map(Requirement, group)
            if canonicalize_name(r.name) != PYPROJECT["name"] and canonicalize_name(r.name) not in GPU_ONLY]


@pytest.mark.parametrize("req", requirements(), ids=str)
def test_every_dependency_is_locked_at_a_version_its_floor_allows(req):
    pins = locked()
    name = canonicalize_name(req.name)
    assert name in pins, f"{req.name} is in pyproject.toml but not in constraints.txt: run tests/env/lock.sh"
    assert req.specifier.contains(pins[name], prereleases=True), (
        f"constraints.txt locks {req.name}=={pins[name]}, outside pyproject.toml's {req}: run tests/env/lock.sh")


def test_the_test_venv_and_every_image_install_from_the_lock():
    assert re.search(r'pip" install -q -c "\$lock" "\$root\[dev\]"', (ROOT / "tests/env/python-env.sh").read_text())
    for dockerfile in sorted((ROOT / "images").glob("*.Dockerfile")):
        text = re.sub(r"\\\n", " ", dockerfile.read_text())
        assert "constraints.txt" in re.search(r"^COPY pyproject\.toml.*$", text, re.M).group(0), dockerfile.name
        installs = re.findall(r"pip install ([^&;]*)", text)
        # `--no-deps .` installs the project alone, after its locked dependencies
        assert installs and all("-c constraints.txt" in i or i.startswith("--no-deps .") for i in installs), (
            f"{dockerfile.name}: {installs}")
