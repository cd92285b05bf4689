"""Reading children and runs into the planner's types (kube.observe, kube.run_view)."""

from __future__ import annotations

from thyme_operator import kube

from .fixtures import spec_dict


def _job(conditions=None, labels=None, deleting=False):
    meta = {"name": "demo-convert-2", "labels": {"thyme.dev/run": "demo", "thyme.dev/stage": "convert",
                                                 "thyme.dev/attempt": "2", **(labels or {})}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"kind": "Job", "metadata": meta, "status": {"conditions": conditions or []}}


def test_job_without_terminal_condition_is_active():
    child = kube.observe(_job([{"type": "SuccessCriteriaMet", "status": "True"}]))
    assert (child.kind, child.stage, child.attempt, child.state) == ("Job", "convert", 2, "Active")


def test_failed_job_carries_time_and_reason():
    child = kube.observe(_job([{"type": "FailureTarget", "status": "True"},
                               {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                "message": "Job has reached the specified backoff limit",
                                "lastTransitionTime": "2026-01-01T00:00:05Z"}]))
    assert child.state == "Failed" and child.finished_at == "2026-01-01T00:00:05Z"
    assert child.message.startswith("BackoffLimitExceeded")


def test_completed_job_succeeded_and_deleting_is_noticed():
    child = kube.observe(_job([{"type": "Complete", "status": "True", "lastTransitionTime": "t"}], deleting=True))
    assert child.state == "Succeeded" and child.deleting


def test_run_view_ignores_status_fields_it_does_not_model():
    body = {"metadata": {"name": "demo", "namespace": "ml", "uid": "u", "generation": 3}, "spec": spec_dict(),
            "status": {"phase": "Running", "kopf": {"progress": {}}}}
    view = kube.run_view(body)
    assert view.generation == 3 and view.status.phase == "Running" and view.spec.stage_names() == ["convert", "sft", "rl"]


def test_a_job_failed_by_the_usage_error_rule_is_not_retryable():
    child = kube.observe(_job([{"type": "Failed", "status": "True", "reason": "PodFailurePolicy",
                                "message": "Container convert for pod ml/demo-convert-2-0-x failed with exit code 64 "
                                           "matching FailJob rule at index 0", "lastTransitionTime": "t"}]))
    assert child.state == "Failed" and not child.retryable
    crashed = kube.observe(_job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]))
    assert crashed.retryable


def _pod(job: str, terminated: dict | None) -> dict:
    state = {"terminated": terminated} if terminated else {"running": {}}
    return {"metadata": {"name": f"{job}-0-abcde", "labels": {"batch.kubernetes.io/job-name": job, "thyme.dev/run": "demo"}},
            "status": {"containerStatuses": [{"name": "convert", "state": state}]}}


def test_a_failed_jobs_message_is_its_pods_last_error_line():
    log_tail = "Traceback (most recent call last):\n  ...\nthyme convert: /data: no parquet files; point dataset.source at the dump\n"
    failures = [kube.pod_failure(_pod("demo-convert-2", {"exitCode": 64, "message": log_tail})),
                kube.pod_failure(_pod("demo-convert-2", None)),                       # still running
                kube.pod_failure(_pod("demo-sft-1", {"exitCode": 0, "message": ""}))]
    assert failures[1:] == [None, None]
    job = kube.observe(_job([{"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "message": "m"}]))
    (explained,) = kube.explain_failures([job], failures)
    assert explained.message == "exit code 64: thyme convert: /data: no parquet files; point dataset.source at the dump"
    assert not explained.retryable
    active = kube.observe(_job([]))
    assert kube.explain_failures([active], failures) == [active]     # only failed Jobs take a pod's words


def test_a_job_whose_pods_never_ran_is_pending_from_its_start_and_one_held_by_kueue_is_suspended():
    pending = {**_job(), "spec": {"suspend": False}}
    pending["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    pending["status"] = {"active": 1, "ready": 0, "startTime": "2026-01-01T00:00:02Z"}
    child = kube.observe(pending)
    assert (child.ran, child.suspended, child.started_at) == (False, False, "2026-01-01T00:00:02Z")
    running = {**pending, "status": {"active": 1, "ready": 1}}
    assert kube.observe(running).ran and kube.observe(running).started_at == "2026-01-01T00:00:00Z"
    assert kube.observe({**pending, "spec": {"suspend": True}}).suspended


def test_a_succeeded_jobs_result_is_its_pods_closing_line():
    said = [kube.pod_failure(_pod("demo-eval-1", {"exitCode": 0, "message": "VStarBench: sft 50.0, rl 62.5\n"}))]
    assert said[0] is not None and said[0].exit_code == 0
    done = {**_job([{"type": "Complete", "status": "True", "reason": "CompletionsReached"}])}
    done["metadata"] = {**done["metadata"], "name": "demo-eval-1"}
    (explained,) = kube.explain_failures([kube.observe(done)], said)
    assert explained.state == "Succeeded" and explained.result == "VStarBench: sft 50.0, rl 62.5"
    failed = kube.observe({**done, "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "x"}]}})
    (unchanged,) = kube.explain_failures([failed], said)
    assert unchanged.result == "" and unchanged.message == "x"  # a success line never explains a failure
