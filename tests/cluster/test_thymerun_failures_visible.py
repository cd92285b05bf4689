"""Failures a user can see: a create the API server refuses and pods that never run
end up in the run's conditions and events, and the stage fails after its pending
timeout instead of leaving the run Running forever. Real API server, real quota."""

from __future__ import annotations

import json
import uuid

import yaml


def _condition(run: dict, type_: str) -> dict:
    return next((c for c in run.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def test_a_refused_job_is_reported_in_a_condition_and_event_and_fails_the_stage_after_its_pending_timeout(
        thyme, thyme_operator, namespace):
    # A quota that allows no Jobs: the API server refuses the convert Job with 403.
    thyme.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump({
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "no-jobs", "namespace": namespace},
        "spec": {"hard": {"count/jobs.batch": "0"}}}))
    name = f"refused-{uuid.uuid4().hex[:5]}"
    manifest = thyme.run_manifest(name, namespace, stages={"convert": {"shards": 1, "timeouts": {"pendingSeconds": 30}}})
    manifest["spec"]["dataset"]["splits"] = ["general"]
    thyme.apply(manifest)

    def refused():
        # The manifest probe Job is refused first; the operator gives it up and asks for the stage's Job.
        cond = _condition(thyme.get_run(namespace, name), "WorkloadsCreated")
        return cond if cond.get("status") == "False" and f"{name}-convert-1" in cond.get("message", "") else None

    cond = thyme.wait_for("the WorkloadsCreated=False condition", refused, timeout=30, interval=0.3)
    assert cond["reason"] == "CreateRefused" and "quota: no-jobs" in cond["message"]
    events = thyme.cluster.get_json("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    refusals = [e for e in events["items"] if e["reason"] == "CreateRefused"]
    assert refusals and all("quota: no-jobs" in e["message"] for e in refusals)
    assert thyme.get_run(namespace, name)["status"]["phase"] == "Running"

    run = thyme.wait_phase(namespace, name, "Failed", timeout=90, op=thyme_operator)
    failed = _condition(run, "Failed")
    assert failed["reason"] == "PendingTimeout", json.dumps(run["status"], indent=1)
    assert "quota: no-jobs" in failed["message"]
    assert thyme.children(namespace, name, "jobs", probe=True) == []
