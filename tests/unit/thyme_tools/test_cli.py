"""`thyme tools serve|front` flags and environment become checked settings."""

import argparse

import pydantic
import pytest

from thyme_tools import cli, registry
from thyme_tools.cpu_tools import Crop, ZoomInSubfigure
from thyme_tools.settings import WorkerSettings


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_flags_override_environment_which_overrides_defaults():
    args = _parse(["tools", "serve", "--tool", "Crop", "--max-concurrency", "3"])
    settings = cli.worker_settings_from(args, {"THYME_TOOLS_MAX_CONCURRENCY": "7", "THYME_TOOLS_CALL_TIMEOUT": "2.5"})
    assert settings.tool == "Crop" and settings.max_concurrency == 3 and settings.call_timeout == 2.5


def test_an_unknown_tool_names_the_field():
    with pytest.raises(pydantic.ValidationError, match="tool"):
        cli.worker_settings_from(_parse(["tools", "serve", "--tool", "Magnify"]), {})


def test_front_workers_come_from_flags_or_the_environment():
    flags = cli.front_settings_from(_parse(["tools", "front", "--worker", "Crop=http://a:1"]), {})
    env = cli.front_settings_from(_parse(["tools", "front"]), {"THYME_TOOLS_WORKERS": "Crop=http://a:1, OCR=http://b:2"})
    assert flags.workers == {"Crop": "http://a:1"} and env.workers == {"Crop": "http://a:1", "OCR": "http://b:2"}
    with pytest.raises(SystemExit, match="NAME=URL"):
        cli.front_settings_from(_parse(["tools", "front", "--worker", "Crop"]), {})


def test_the_registry_builds_cpu_tools_and_refuses_a_model_tool_without_a_model():
    assert isinstance(registry.build(WorkerSettings(tool="Crop")), Crop)
    zoom = registry.build(WorkerSettings(tool="ZoomInSubfigure", chooser_endpoint="http://127.0.0.1:1/v1"))
    assert isinstance(zoom, ZoomInSubfigure) and zoom.chooser is not None
    with pytest.raises(ValueError, match="model-backed"):
        registry.build(WorkerSettings(tool="grounding_dino"))
