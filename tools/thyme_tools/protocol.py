"""HTTP bodies of a tool worker and of the controller-compatible front.

Field names are OpenThinkIMG's (`tool_server/tool_workers/online_workers/`): a call is
`{"param", "image", ...}` (extra keys such as `box_threshold` pass through to the tool),
an answer `{"text", "error_code", "edited_image"?}`. Shared by the server and our client
so the contract is written once.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class GenerateRequest(BaseModel):
    """One tool call. Unknown keys are kept: OpenThinkIMG's inferencer adds thresholds."""

    model_config = ConfigDict(extra="allow")

    param: str | None = Field(None, description="The tool's argument string, e.g. '[10,20,200,180]' for Crop.")
    image: str | None = Field(None, description="The input image, base64; a data:image/...;base64, prefix is accepted.")

    @field_validator("param", mode="before")
    @classmethod
    def _param_as_text(cls, value: Any) -> Any:
        """A box sent as a JSON list (`[10, 20, 200, 180]`) means the same as its text."""
        return json.dumps(value) if isinstance(value, list) else value

    def extra(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class GenerateResponse(BaseModel):
    text: str | dict | list = Field("", description="What the tool says; a dict for GroundingDINO's detections.")
    error_code: int = Field(0, description="0, or one of OpenThinkIMG's codes (thyme_tools.codes.ErrorCode).")
    edited_image: str | None = Field(None, description="The tool's output image, base64 JPEG, when it makes one.")

    def body(self) -> dict[str, Any]:
        """The JSON answer; `edited_image` is left out when there is none, as OpenThinkIMG does."""
        out = self.model_dump()
        if out["edited_image"] is None:
            del out["edited_image"]
        return out


class WorkerStatus(BaseModel):
    """`/worker_get_status`: what OpenThinkIMG's controller reads from a worker."""

    model_names: list[str]
    speed: int = 1
    queue_length: int = Field(0, description="Calls running or waiting right now (OpenThinkIMG always says 0).")
    ready: bool = Field(True, description="False until the tool's model has loaded.")


class WorkerAddressRequest(BaseModel):
    model: str
