"""Where the trainer looks to know its servers are up."""

from __future__ import annotations

import pytest

from thyme_jobs.rl import readiness


@pytest.mark.parametrize(("endpoint", "health"), [
    ("http://run-rl-judge.ns.svc:8000/v1", "http://run-rl-judge.ns.svc:8000/health"),
    ("http://judge:8000/v1/", "http://judge:8000/health"),
    ("https://api.example.com/openai/v1/chat/completions", "https://api.example.com/openai/health"),
])
def test_the_judge_is_probed_at_vllms_health_route(endpoint: str, health: str) -> None:
    probe = readiness.judge_probe(endpoint)
    assert probe.url == health and 200 in probe.ready_statuses and 503 not in probe.ready_statuses


def test_the_sandbox_is_probed_at_readyz() -> None:
    probe = readiness.sandbox_probe("http://run-rl-sandbox.ns.svc:8080/")
    assert probe.url == "http://run-rl-sandbox.ns.svc:8080/readyz" and probe.ready_statuses == {200}
