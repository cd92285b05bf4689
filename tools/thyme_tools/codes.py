"""OpenThinkIMG's error codes, and the one exception a tool raises for bad input.

OpenThinkIMG's workers answer every call with `{"text", "error_code"}`; the codes are
FastChat's table plus `TIMEOUT_ERROR` (its `base_tool_worker.py`). Clients written for
OpenThinkIMG branch on them, so we answer with the same numbers, and with a message that
names the bad field instead of a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    OK = 0
    VALIDATION_TYPE_ERROR = 40001  # undecodable image, malformed `param`, missing field
    INVALID_MODEL = 40301  # the front was asked for a tool it does not serve
    PARAM_OUT_OF_RANGE = 40302  # a box or point outside the image
    TIMEOUT_ERROR = 40304  # the call ran past the worker's per-call timeout
    ENGINE_OVERLOADED = 42903  # every slot of the worker is busy (HTTP 503)
    INTERNAL_ERROR = 50001  # the tool itself failed; the message says how
    CUDA_OUT_OF_MEMORY = 50002
    CONTROLLER_NO_WORKER = 50005  # the front knows the tool but no worker is ready


class ToolInputError(Exception):
    """The request cannot be served as sent; `code` is what the worker answers with."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.VALIDATION_TYPE_ERROR) -> None:
        super().__init__(message)
        self.code = code


class OutOfRange(ToolInputError):
    """Coordinates that fall outside the image they refer to."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ErrorCode.PARAM_OUT_OF_RANGE)
