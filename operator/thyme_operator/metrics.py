"""Prometheus metrics of the operator (served by `thyme operator --metrics-port`).

Runs by phase answer "what is the fleet doing"; reconcile latency and child-creation
errors answer "is the operator healthy"; API requests per verb and kind let the
benchmark put a number on the cost of one run.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RUNS = Gauge("thyme_runs", "ThymeRuns by phase, as last reconciled by this operator.", ["phase"])
RECONCILE_SECONDS = Histogram(
    "thyme_reconcile_seconds", "Time to plan and apply one reconcile of a ThymeRun.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
CHILD_CREATE_ERRORS = Counter("thyme_child_create_errors", "Failed creations of child objects (409 excluded).", ["kind"])
API_REQUESTS = Counter("thyme_api_requests", "Requests this operator sent beside kopf's own.", ["verb", "kind"])

PHASES = ("Pending", "Running", "Suspended", "Succeeded", "Failed")


def record_phases(phases: dict[tuple[str, str], str]) -> None:
    """Set the phase gauge from {(namespace, name): phase}."""
    counts = dict.fromkeys(PHASES, 0)
    for phase in phases.values():
        counts[phase] = counts.get(phase, 0) + 1
    for phase, n in counts.items():
        RUNS.labels(phase=phase).set(n)


def serve(port: int) -> None:
    start_http_server(port, addr="0.0.0.0")
