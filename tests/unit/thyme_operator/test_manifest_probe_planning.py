"""A re-applied run whose stages are committed in the store: the operator (which cannot
read the store) learns them from the manifest probe Job, and then decides exactly what
the local executor (which reads the store) decides."""

from __future__ import annotations

import datetime as dt
import json

from thyme_operator import api, planner
from thyme_operator.planner import ObservedChild as C

from .fixtures import spec

T0 = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def run(status: dict | None = None, **overrides) -> planner.RunView:
    return planner.RunView("demo", "ml", "uid-1", 1, spec(**overrides), api.ThymeRunStatus.model_validate(status or {}))


def probe(state: str, completed: str = "") -> C:
    return C("Job", "demo-probe", None, None, state, None if state == "Active" else planner.timestamp(T0),
             completed_indexes=completed, started_at=planner.timestamp(T0), ran=state != "Active")


def names(p: planner.Plan) -> list[str]:
    return [c["metadata"]["name"] for c in p.create]


def test_a_new_run_first_asks_the_probe_and_starts_nothing_else():
    p = planner.plan(run(), [], None, T0)
    assert names(p) == ["demo-probe"] and p.status["phase"] == "Pending"
    (job,) = p.create
    assert job["spec"]["completionMode"] == "Indexed" and job["spec"]["completions"] == 3
    assert job["spec"]["backoffLimitPerIndex"] == 0
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    config = json.loads(env["THYME_STAGE_CONFIG"]["value"])
    assert config["manifests"] == ["data/manifest.json", "sft/manifest.json", "rl/manifest.json"]
    assert config["run_root"] == "s3://thyme/thyme/runs/ml/demo"
    assert "secretKeyRef" in env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]
    again = planner.plan(run(p.status), [probe("Active")], None, T0 + dt.timedelta(seconds=2))
    assert again.create == [] and again.status["phase"] == "Pending"


def test_with_the_probes_answer_the_operator_decides_as_the_local_executor_does():
    for completed, local in (("0", {"convert"}), ("0-1", {"convert", "sft"}), ("", set()), ("0-2", {"convert", "sft", "rl"})):
        cluster = planner.plan(run(), [probe("Failed" if len(local) < 3 else "Succeeded", completed)], None, T0)
        locally = planner.plan(run(), [], frozenset(local), T0)
        assert names(cluster) == names(locally), completed
        assert cluster.status == locally.status, completed
        assert [(e.reason, e.message) for e in cluster.events] == [(e.reason, e.message) for e in locally.events]
    everything = planner.plan(run(), [probe("Succeeded", "0-2")], None, T0)
    assert everything.status["phase"] == "Succeeded" and everything.create == []
    assert {s["message"] for s in everything.status["stages"].values()} == {"manifest already in the store; skipped"}


def test_a_run_that_already_started_a_stage_does_not_wait_for_a_probe():
    status = {"stages": {"convert": {"state": "Running", "attempts": 1}}}
    p = planner.plan(run(status), [C("Job", "demo-convert-1", "convert", 1, "Active")], None, T0)
    assert "demo-probe" not in names(p) and p.status["phase"] == "Running"


def test_a_probe_that_never_runs_is_given_up_after_the_pending_timeout():
    late = T0 + dt.timedelta(seconds=61)
    p = planner.plan(run(stages__convert__timeouts={"pendingSeconds": 60}),
                     [C("Job", "demo-probe", None, None, "Active", started_at=planner.timestamp(T0))], None, late)
    assert names(p) == ["demo-convert-1"]


def test_a_refused_probe_is_given_up_and_the_first_stage_is_asked_for():
    p = planner.plan(run(), [], None, T0)
    planner.record_refusals(p, [planner.Refusal("Job", "demo-probe", None, "exceeded quota: no-jobs")], 1, T0)
    again = planner.plan(run(p.status), [], None, T0 + dt.timedelta(seconds=1))
    assert names(again) == ["demo-convert-1"]
