"""The CodeRunner over a SandboxClient-shaped fake: sessions, faults, result conversion."""

from __future__ import annotations

import base64

import pytest

from thyme_jobs.agent.thyme_code import SandboxFault
from thyme_jobs.agent.sandbox_runner import SandboxRunner, to_code_result
from thyme_sandbox.client import PoolExhausted, SandboxUnavailable
from thyme_sandbox.protocol import RunResult


class FakeClient:
    def __init__(self, create_failures: list[Exception] | None = None) -> None:
        self.create_failures = list(create_failures or [])
        self.created: list[bytes | None] = []
        self.runs: list[tuple[str, str]] = []
        self.closed: list[str] = []

    async def create_session(self, image: bytes | None = None) -> str:
        if self.create_failures:
            raise self.create_failures.pop(0)
        self.created.append(image)
        return f"s{len(self.created)}"

    async def run(self, session_id: str, code: str) -> RunResult:
        self.runs.append((session_id, code))
        return RunResult(status="ok", stdout="1\n", images=[base64.b64encode(b"img").decode()], wall_seconds=0.1)

    async def close_session(self, session_id: str) -> None:
        self.closed.append(session_id)


async def test_one_session_per_trajectory_created_with_its_image() -> None:
    client = FakeClient()
    runner = SandboxRunner(client)
    await runner.run("a", "x = 1", b"A")
    await runner.run("a", "print(x)", b"A")
    result = await runner.run("b", "print(2)", None)
    assert client.created == [b"A", None]
    assert [s for s, _ in client.runs] == ["s1", "s1", "s2"]
    assert result.images == [b"img"] and result.stdout == "1\n" and result.status == "ok"
    await runner.close("a")
    await runner.close("a")  # closing twice is harmless
    await runner.aclose()
    assert client.closed == ["s1", "s2"]


async def test_an_exhausted_pool_is_retried_then_a_fault() -> None:
    client = FakeClient([PoolExhausted("busy")])
    runner = SandboxRunner(client, pool_retries=2, backoff_seconds=0)
    assert (await runner.run("a", "1", None)).status == "ok"
    client = FakeClient([PoolExhausted("busy")] * 3)
    with pytest.raises(SandboxFault, match="PoolExhausted"):
        await SandboxRunner(client, pool_retries=2, backoff_seconds=0).run("a", "1", None)


async def test_an_unavailable_service_is_a_fault_naming_the_trajectory() -> None:
    with pytest.raises(SandboxFault, match="trajectory t7: .*SandboxUnavailable"):
        await SandboxRunner(FakeClient([SandboxUnavailable("connection refused")])).run("t7", "1", None)


def test_user_errors_are_formatted_with_their_line() -> None:
    result = to_code_result(RunResult(status="error", error={"type": "ZeroDivisionError", "message": "division by zero", "line": 3}))
    assert result.error == "ZeroDivisionError: division by zero (line 3)"
    assert to_code_result({"status": "timeout", "stdout": None, "images": [b"raw"]}).images == [b"raw"]
