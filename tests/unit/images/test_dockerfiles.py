"""Lint the container images' Dockerfiles: no Docker engine runs here and Debian has
no hadolint, so the rules we care about are checked by parsing.

Rules: base images pinned to a version tag; the final stage runs as a numeric non-root
user; the project is installed through pyproject extras that exist; any package
pinned in a RUN line agrees with pyproject.toml; the base Python satisfies
requires-python; apt installs skip recommends and clean their lists; no remote ADD or
curl-pipe-shell; ENTRYPOINT in exec form.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
IMAGES = sorted((ROOT / "images").glob("*.Dockerfile"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXPECTED_EXTRAS = {"operator": {"operator"}, "jobs": {"jobs", "train"}, "trainer": {"gpu"}, "sandbox": {"sandbox"},
                   "tools": {"tools", "train"}}


@dataclass
class Stage:
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse(path: Path) -> list[Stage]:
    """Split a Dockerfile into stages of (INSTRUCTION, arguments), joining continuations.
    A FROM that names an `ARG` declared before it gets that ARG's default: the image a
    plain `docker build` uses (the tests pass a local base instead)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    stages: list[Stage] = []
    defaults: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, _, args = line.partition(" ")
        op = op.upper()
        if op == "ARG" and not stages:
            name, _, default = args.strip().partition("=")
            defaults[name] = default
        elif op == "FROM":
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults.get(m.group(1) or m.group(2), m.group(0)),
                          args.split()[0])
            stages.append(Stage(base=base))
        elif not stages:
            raise AssertionError(f"{path.name}: {op} before FROM")
        else:
            stages[-1].instructions.append((op, args.strip()))
    return stages


def requirements_by_name() -> dict[str, SpecifierSet]:
    specs: dict[str, SpecifierSet] = {}
    groups = [PYPROJECT["project"]["dependencies"], *PYPROJECT["project"]["optional-dependencies"].values()]
    for group in groups:
        for req in map(Requirement, group):
            if req.name != PYPROJECT["project"]["name"]:
                specs[req.name.lower()] = req.specifier
    return specs


def test_every_component_has_an_image():
    assert {p.name.split(".")[0] for p in IMAGES} == set(EXPECTED_EXTRAS)


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_base_images_are_pinned(path):
    for stage in parse(path):
        name, _, tag = stage.base.partition(":")
        assert tag and tag != "latest", f"{path.name}: FROM {stage.base} must name a version tag"
        assert re.search(r"\d", tag), f"{path.name}: FROM {stage.base} tag carries no version"


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_final_stage_runs_as_numeric_non_root_user(path):
    users = [args for op, args in parse(path)[-1].instructions if op == "USER"]
    assert users, f"{path.name}: the final stage sets no USER"
    assert users[-1].isdigit() and int(users[-1]) != 0, f"{path.name}: USER {users[-1]} must be a numeric non-root uid"


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_project_installed_through_existing_extras(path):
    runs = " ".join(args for stage in parse(path) for op, args in stage.instructions if op == "RUN")
    installs = re.findall(r'pip install [^&;]*?"\.\[([a-z,]+)\]"', runs)
    assert installs, f"{path.name}: installs the project through no extra"
    extras = {e for group in installs for e in group.split(",")}
    known = set(PYPROJECT["project"]["optional-dependencies"])
    assert extras <= known, f"{path.name}: unknown extras {extras - known}"
    assert extras == EXPECTED_EXTRAS[path.name.split(".")[0]]


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_pinned_packages_agree_with_pyproject(path):
    specs = requirements_by_name()
    runs = " ".join(args for stage in parse(path) for op, args in stage.instructions if op == "RUN")
    for quoted in re.findall(r'pip install (?:--[a-z-]+ )*"([A-Za-z0-9_.\-]+[<>=!~][^"]+)"', runs):
        req = Requirement(quoted)
        assert req.name.lower() in specs, f"{path.name}: installs {req.name}, which pyproject.toml does not list"
        assert str(req.specifier) == str(specs[req.name.lower()]), (
            f"{path.name}: {quoted} disagrees with pyproject.toml's {req.name}{specs[req.name.lower()]}")


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_python_satisfies_requires_python(path):
    requires = SpecifierSet(PYPROJECT["project"]["requires-python"])
    text = path.read_text()
    bases = " ".join(stage.base for stage in parse(path))
    versions = re.findall(r"\bpython:(\d+\.\d+(?:\.\d+)?)", bases) + re.findall(r"python(3\.\d+)-venv", text)
    assert versions, f"{path.name}: cannot tell which Python the image uses"
    for v in versions:
        assert Version(v) in requires, f"{path.name}: Python {v} does not satisfy requires-python {requires}"


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_shell_hygiene(path):
    for stage in parse(path):
        for op, args in stage.instructions:
            assert not (op == "ADD" and re.search(r"https?://", args)), f"{path.name}: remote ADD; use a pinned package"
            if op == "RUN":
                assert not re.search(r"curl[^|]*\|\s*(ba)?sh", args), f"{path.name}: curl piped into a shell"
                if "apt-get install" in args:
                    assert "--no-install-recommends" in args, f"{path.name}: apt-get install without --no-install-recommends"
                    assert "rm -rf /var/lib/apt/lists" in args, f"{path.name}: apt lists left in the layer"
            if op == "ENTRYPOINT":
                assert isinstance(json.loads(args), list), f"{path.name}: ENTRYPOINT must use the exec (JSON) form"
