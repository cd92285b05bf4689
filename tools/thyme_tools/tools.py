"""What a tool is to its worker: a name, a `load` run once before the worker is ready,
and a blocking `call` the worker runs on a thread with a timeout.

A call raises `ToolInputError` for a request it cannot serve (the worker answers with
the error's code and message) and returns a `GenerateResponse` otherwise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from thyme_tools.protocol import GenerateRequest, GenerateResponse


class Tool(ABC):
    name: str = ""

    def load(self) -> None:
        """Load weights or warm up; the worker reports ready only after this returns."""

    @abstractmethod
    def call(self, request: GenerateRequest) -> GenerateResponse: ...
