"""Prometheus metrics of the sandbox service, in a registry of its own.

A registry per service instance (not the process-global one) lets tests start several
services in one process and lets `/metrics` show exactly this service.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# From a trivial warm call (~1 ms) to the 10 s wall limit.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SandboxMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls = Counter("thyme_sandbox_calls", "Code calls by result status.", ["status"], registry=r)
        self.latency = Histogram("thyme_sandbox_call_seconds", "Wall time of a call, service side.",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.timeouts = Counter("thyme_sandbox_timeouts", "Calls stopped at the wall or CPU limit.", registry=r)
        self.oom_kills = Counter("thyme_sandbox_oom_kills", "Calls that ran out of memory.", registry=r)
        self.sessions = Gauge("thyme_sandbox_sessions", "Open sessions.", registry=r)
        self.pool_idle = Gauge("thyme_sandbox_pool_idle_workers", "Warm workers waiting for a session.", registry=r)
        self.pool_starting = Gauge("thyme_sandbox_pool_starting_workers", "Workers booting.", registry=r)
        self.cold_start = Histogram("thyme_sandbox_worker_start_seconds", "Time from launch to a ready worker.",
                                    buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32, 64), registry=r)
        self.pool_exhausted = Counter("thyme_sandbox_pool_exhausted", "Session requests refused: no worker.",
                                      registry=r)
