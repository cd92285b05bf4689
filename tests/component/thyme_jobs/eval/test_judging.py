"""The matching judge over a real OpenAI-compatible HTTP server on loopback (a scripted stand-in for a GPT judge)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from thyme_jobs.eval import judging, scorers
from thyme_jobs.rl.judge import JudgeClient

OPTIONS = {"A": "red", "B": "blue", "C": "green", "D": "yellow"}


@pytest.fixture
def judge_server():
    state = {"reply": "C", "status": 200, "prompts": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["prompts"].append(body["messages"][0]["content"])
            data = json.dumps({"choices": [{"message": {"content": state["reply"]}}]}).encode()
            self.send_response(state["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", state
    finally:
        httpd.shutdown()
        httpd.server_close()


async def ask(url: str, prediction: str, truth: str = "C", on_failure: scorers.JudgeFailure = "random"):
    async with JudgeClient(url, "judge", timeout_seconds=5, max_retries=2, backoff_seconds=0.01) as judge:
        return await judging.judge_letter(judge, "What colour?", OPTIONS, prediction, truth, on_failure, "VStarBench/1")


async def test_the_judges_letter_is_read_with_can_infer_and_scored(judge_server):
    url, state = judge_server
    state["reply"] = "The answer means option (C)."
    assert await ask(url, "the grass-coloured one") == scorers.Scored("C", True, "judge")
    prompt = state["prompts"][0]
    assert "Answer: the grass-coloured one" in prompt and "C. green" in prompt


async def test_a_judge_that_names_no_letter_three_times_gives_up_as_configured(judge_server):
    url, state = judge_server
    state["reply"] = "Hard to say."
    seeded = await ask(url, "hmm")
    assert seeded.method == "judge_failed" and len(state["prompts"]) == scorers.JUDGE_ATTEMPTS
    assert seeded == scorers.judge_gave_up(OPTIONS, "C", "random", "VStarBench/1")
    assert await ask(url, "hmm", on_failure="wrong") == scorers.Scored("Z", False, "judge_failed")


async def test_an_unreachable_judge_is_exact_matching_and_counted(judge_server):
    url, state = judge_server
    state["status"] = 404
    assert await ask(url, "hmm") == scorers.Scored("Z", False, "judge_unavailable")
