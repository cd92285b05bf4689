"""The HTTP bodies of the sandbox API (docs/contracts.md, "Sandbox service").

One set of pydantic models shared by the server and the client, so the contract is
written down once and a change to it breaks both sides' tests at the same time.
"""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import BaseModel, Field

RunStatus = Literal["ok", "error", "timeout", "oom", "killed"]


class CreateSession(BaseModel):
    image: str | None = Field(None, description="The session's input image, base64 (JPEG, PNG, ...), or none.")


class SessionCreated(BaseModel):
    session_id: str = Field(..., description="<replica>-<random>: names the replica that holds the session.")
    url: str | None = Field(
        None, description="Base URL of the replica holding the session, when it has one of its own (a pod's IP); "
                          "every later call of the session goes there, not through a balancing Service.")


class RunRequest(BaseModel):
    code: str = Field(..., max_length=1_000_000,
                      description="A model turn containing <code>...</code>, or bare Python.")


class ErrorInfo(BaseModel):
    type: str = Field(..., description="Exception class name, e.g. ZeroDivisionError, or SessionDead.")
    message: str
    line: int | None = Field(None, description="Line of the executed code the error points at, if any.")


class RunResult(BaseModel):
    """What one call produced. User-code failures live here, never in HTTP errors."""

    status: RunStatus
    stdout: str = ""
    stdout_truncated: bool = False
    error: ErrorInfo | None = None
    images: list[str] = Field(default_factory=list, description="Result images, base64, in harvest order.")
    image_keys: list[str] = Field(default_factory=list,
                                  description="Object-store keys of the images when the service writes them there.")
    wall_seconds: float = 0.0

    def image_bytes(self) -> list[bytes]:
        return [base64.b64decode(i) for i in self.images]


class Problem(BaseModel):
    """The body of every non-200 answer: which fault, and what to do about it."""

    type: str
    detail: str
