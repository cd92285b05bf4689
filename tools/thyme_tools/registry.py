"""Tool name -> a constructed tool, the one place that knows every tool.

Model-backed tools are named by import path and imported only when asked for, so a CPU
tool's worker (and its image) never imports torch; import-linter's `tools-cpu-light`
contract holds the worker to that.
"""

from __future__ import annotations

import importlib
import os

from thyme_tools import cpu_tools, subfigures
from thyme_tools.settings import WorkerSettings
from thyme_tools.tools import Tool

CPU_TOOLS: dict[str, type[Tool]] = {
    "Crop": cpu_tools.Crop,
    "DrawHorizontalLineByY": cpu_tools.DrawHorizontalLineByY,
    "DrawVerticalLineByX": cpu_tools.DrawVerticalLineByX,
}
MODEL_TOOLS: dict[str, str] = {
    "grounding_dino": "thyme_tools.models.grounding:GroundingDino",
    "SegmentRegionAroundPoint": "thyme_tools.models.segmentation:SegmentRegionAroundPoint",
    "OCR": "thyme_tools.models.vlm_text:OCR",
    "Point": "thyme_tools.models.vlm_text:Point",
}


def build(settings: WorkerSettings) -> Tool:
    name = settings.tool
    if name in CPU_TOOLS:
        return CPU_TOOLS[name]()
    if name == "ZoomInSubfigure":
        chooser = None
        if settings.chooser_endpoint:
            key = os.environ.get(settings.chooser_api_key_env) if settings.chooser_api_key_env else None
            chooser = subfigures.VlmChooser(settings.chooser_endpoint, settings.chooser_model, key,
                                            timeout=settings.call_timeout)
        return cpu_tools.ZoomInSubfigure(chooser)
    if settings.model is None:
        raise ValueError(f"tool {name!r} is model-backed: set `model` (THYME_TOOLS_MODEL) to its HF model "
                         "directory, a store URI or a path")
    module, _, cls = MODEL_TOOLS[name].partition(":")
    return getattr(importlib.import_module(module), cls)(settings)
