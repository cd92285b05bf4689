"""Settings of one tool worker and of the front, checked once at start-up.

The CLI, the in-process test server and a cluster Deployment (environment variables
`THYME_TOOLS_<FIELD>`) all build these models, so a bad value fails at start with the
field's name instead of on the first call. No secret lives here: the chooser's API key
is read from the environment variable that `chooser_api_key_env` names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

TOOL_NAMES = ("Crop", "DrawHorizontalLineByY", "DrawVerticalLineByX", "ZoomInSubfigure",
              "grounding_dino", "SegmentRegionAroundPoint", "OCR", "Point")


class WorkerSettings(BaseModel):
    tool: Literal[TOOL_NAMES] = Field(..., description="Which tool this worker serves (OpenThinkIMG's name).")
    model: str | None = Field(None, description="The tool's HF model directory: a store URI (s3://...) or a path; "
                                                "required by the model-backed tools, unused by the CPU tools.")
    model_cache: str | None = Field(None, description="Where a store model is copied to; default: a temp dir.")
    device: str = Field("cpu", description="torch device of a model-backed tool: cpu, cuda, cuda:1, ...")
    max_concurrency: int = Field(5, ge=1, le=1024, description="Calls served at once; one more is answered 503 "
                                                               "(OpenThinkIMG's CLI default is 5).")
    call_timeout: float = Field(60.0, gt=0, le=3600, description="Seconds one call may run before it is answered "
                                                                 "with TIMEOUT_ERROR (OpenThinkIMG's client gives 60).")
    box_threshold: float = Field(0.3, ge=0, le=1, description="GroundingDINO's box threshold when a call sends none "
                                                              "(OpenThinkIMG's inferencer sends 0.3).")
    text_threshold: float = Field(0.25, ge=0, le=1, description="GroundingDINO's text threshold when a call sends none.")
    max_new_tokens: int = Field(256, ge=1, le=4096, description="Generation budget of the Point and OCR models.")
    chooser_endpoint: str | None = Field(None, description="ZoomInSubfigure: an OpenAI-compatible /v1 URL whose "
                                                           "vision model picks the subplot; none: the position heuristic.")
    chooser_model: str = Field("default", description="ZoomInSubfigure: the model name sent to chooser_endpoint.")
    chooser_api_key_env: str | None = Field(None, description="ZoomInSubfigure: the environment variable holding "
                                                              "the chooser's API key, if it needs one.")


class FrontSettings(BaseModel):
    workers: dict[str, str] = Field(..., min_length=1, description="Tool name -> worker base URL (in a cluster, "
                                                                   "the tool's Service).")
    probe_timeout: float = Field(2.0, gt=0, le=60, description="Seconds a readiness probe of one worker may take.")
    workers_mode: Literal["ready", "all"] = Field("ready", description="ready: list only tools whose worker answers "
                                                                       "ready; all: list every configured tool.")
