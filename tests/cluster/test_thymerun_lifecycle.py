"""The real operator runs ThymeRuns on the real control plane (kwok nodes): the
pipeline to Succeeded, retries, exhausted retries, an operator crash, suspend and
resume, and deletion. Job pods "run" for `thyme.test/run-ms` (kwok stages)."""

from __future__ import annotations

import collections
import json
import time
import uuid

from testenv.kwok_cluster import EXIT_CODE_ANNOTATION, FAIL_LABEL, MESSAGE_ANNOTATION, RUN_MS_ANNOTATION
from thyme_operator import exits


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


def _events(cluster, namespace: str, name: str) -> list[str]:
    items = cluster.get_json("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")["items"]
    return [e["reason"] for e in items]


def _condition(run: dict, type_: str) -> dict:
    return next(c for c in run["status"]["conditions"] if c["type"] == type_)


def test_run_goes_through_all_stages_to_succeeded(thyme, thyme_operator, namespace):
    name = _name("happy")
    thyme.apply(thyme.run_manifest(name, namespace))

    # apply-to-first-child: the convert Job appears without waiting for a resync.
    started = time.monotonic()
    thyme.wait_for("the convert Job", lambda: thyme.job_names(namespace, name), timeout=20, interval=0.1)
    assert time.monotonic() - started < 10

    # While RL runs, its servers and the deny-egress policy exist.
    def rl_servers():
        kinds = {(c["kind"], c["metadata"]["name"]) for c in thyme.children(namespace, name)}
        return kinds if ("Deployment", f"{name}-rl-sandbox") in kinds else None
    kinds = thyme.wait_for("the RL servers", rl_servers, timeout=60)
    assert {("Deployment", f"{name}-rl-judge"), ("Deployment", f"{name}-rl-rollout"),
            ("NetworkPolicy", f"{name}-rl-sandbox-deny-egress"), ("Service", f"{name}-rl-sandbox")} <= kinds
    sandbox = thyme.cluster.get_json("deployment", f"{name}-rl-sandbox", "-n", namespace)
    assert sandbox["spec"]["template"]["spec"]["runtimeClassName"] == "gvisor"

    run = thyme.wait_phase(namespace, name, "Succeeded", timeout=90, op=thyme_operator)
    status = run["status"]
    assert status["progress"] == "3/3" and status["observedGeneration"] == run["metadata"]["generation"]
    assert {s: v["state"] for s, v in status["stages"].items()} == {"convert": "Succeeded", "sft": "Succeeded", "rl": "Succeeded"}
    assert all(v["attempts"] == 1 and v["startTime"] and v["completionTime"] for v in status["stages"].values())
    assert status["stages"]["sft"]["artifact"] == f"s3://thyme/thyme/runs/{namespace}/{name}/sft/final"
    assert _condition(run, "Ready")["status"] == "True"
    assert _condition(run, "RlSucceeded")["status"] == "True"
    assert _condition(run, "Failed")["status"] == "False"

    jobs = thyme.children(namespace, name, "jobs")
    assert sorted(j["metadata"]["name"] for j in jobs) == [f"{name}-convert-1", f"{name}-rl-1", f"{name}-sft-1"]
    for job in jobs:
        ref = job["metadata"]["ownerReferences"][0]
        assert ref["kind"] == "ThymeRun" and ref["name"] == name and ref["uid"] == run["metadata"]["uid"] and ref["controller"]
    sft_pods = thyme.cluster.get_json("pods", "-n", namespace, "-l", f"job-name={name}-sft-1")["items"]
    assert len(sft_pods) == 2 and all(p["spec"]["subdomain"] == f"{name}-sft" for p in sft_pods)
    # RL servers are torn down once the run is done; finished Jobs stay for inspection.
    thyme.wait_for("RL servers removed", lambda: not thyme.children(namespace, name, "deployments"), timeout=30)

    reasons = _events(thyme.cluster, namespace, name)
    assert "StageSucceeded" in reasons and "RunSucceeded" in reasons
    row = thyme.cluster.kubectl("get", "tr", name, "-n", namespace, "--no-headers")
    assert "Succeeded" in row and "3/3" in row
    metrics = thyme_operator.metrics()
    assert "thyme_reconcile_seconds_count" in metrics and 'thyme_runs{phase="Succeeded"}' in metrics


def test_failed_stage_pod_is_retried_and_the_run_succeeds(thyme, thyme_operator, namespace):
    name = _name("retry")
    manifest = thyme.run_manifest(name, namespace, stages={
        "convert": {"shards": 1, "retries": {"limit": 2, "backoffSeconds": 3}}})
    manifest["spec"]["podMetadata"] = {"labels": {FAIL_LABEL: "true"}}
    thyme.apply(manifest)

    def first_failed():
        job = [j for j in thyme.children(namespace, name, "jobs") if j["metadata"]["name"] == f"{name}-convert-1"]
        return job and any(c["type"] == "Failed" and c["status"] == "True" for c in job[0].get("status", {}).get("conditions", []))
    thyme.wait_for("attempt 1 to fail", first_failed, timeout=30, interval=0.2)
    thyme.patch_spec(namespace, name, {"podMetadata": {"labels": None}})   # the fault goes away

    run = thyme.wait_phase(namespace, name, "Succeeded", timeout=60, op=thyme_operator)
    assert run["status"]["stages"]["convert"]["attempts"] == 2
    assert thyme.job_names(namespace, name) == [f"{name}-convert-1", f"{name}-convert-2"]
    reasons = _events(thyme.cluster, namespace, name)
    assert "BackingOff" in reasons and "StageRetrying" in reasons


def test_exhausted_retries_fail_the_run_naming_the_stage(thyme, thyme_operator, namespace):
    name = _name("doomed")
    manifest = thyme.run_manifest(name, namespace, stages={
        "convert": {"shards": 1, "retries": {"limit": 1, "backoffSeconds": 1}},
        "sft": {"phases": [{"splits": ["general"]}], "nodes": 1, "gpusPerNode": 1}})
    manifest["spec"]["podMetadata"] = {"labels": {FAIL_LABEL: "true"}, "annotations": {RUN_MS_ANNOTATION: "200"}}
    thyme.apply(manifest)
    run = thyme.wait_phase(namespace, name, "Failed", timeout=60, op=thyme_operator)
    failed = _condition(run, "Failed")
    assert failed["status"] == "True" and failed["reason"] == "StageFailed"
    assert "stage convert failed after 2 attempt(s)" in failed["message"]
    assert run["status"]["currentStage"] == "convert"
    assert run["status"]["stages"]["convert"]["state"] == "Failed"
    assert "sft" not in run["status"]["stages"]
    assert thyme.job_names(namespace, name) == [f"{name}-convert-1", f"{name}-convert-2"]
    assert "StageFailed" in _events(thyme.cluster, namespace, name)


def test_a_usage_error_fails_the_run_at_once_with_the_programs_own_line(thyme, thyme_operator, namespace):
    name = _name("usage")
    said = "thyme convert: s3://thyme/datasets/typo/data/: no <split>-NNNNN-of-MMMMM.parquet files"
    manifest = thyme.run_manifest(name, namespace, stages={
        "convert": {"shards": 2, "retries": {"limit": 3, "backoffSeconds": 1}}})
    manifest["spec"]["podMetadata"] = {
        "labels": {FAIL_LABEL: "true"},
        "annotations": {RUN_MS_ANNOTATION: "200", EXIT_CODE_ANNOTATION: str(exits.USAGE_ERROR),
                        MESSAGE_ANNOTATION: f"some library warning\n{said}\n"}}
    thyme.apply(manifest)
    run = thyme.wait_phase(namespace, name, "Failed", timeout=60, op=thyme_operator)
    failed = _condition(run, "Failed")
    assert "not retried" in failed["message"] and said in failed["message"], failed["message"]
    assert run["status"]["stages"]["convert"]["attempts"] == 1
    assert thyme.job_names(namespace, name) == [f"{name}-convert-1"]      # no attempt 2, no backoff
    job = thyme.cluster.get_json("job", f"{name}-convert-1", "-n", namespace)
    assert any(c["type"] == "Failed" and c["reason"] == exits.JOB_FAILED_BY_POLICY for c in job["status"]["conditions"])
    reasons = _events(thyme.cluster, namespace, name)
    assert "StageFailed" in reasons and "BackingOff" not in reasons


def test_operator_killed_mid_stage_resumes_without_duplicate_children(thyme, thyme_operator, namespace):
    name = _name("crash")
    manifest = thyme.run_manifest(name, namespace, rl=None)
    manifest["spec"]["stages"].pop("rl")
    manifest["spec"]["podMetadata"] = {"annotations": {RUN_MS_ANNOTATION: "3000"}}
    thyme.apply(manifest)
    thyme.wait_for("the convert Job", lambda: thyme.job_names(namespace, name), timeout=20, interval=0.1)

    thyme_operator.kill()
    time.sleep(5)        # convert finishes while nobody watches
    assert thyme.get_run(namespace, name)["status"]["stages"]["convert"]["state"] == "Running"
    thyme_operator.start()

    run = thyme.wait_phase(namespace, name, "Succeeded", timeout=60, op=thyme_operator)
    assert {s: v["attempts"] for s, v in run["status"]["stages"].items()} == {"convert": 1, "sft": 1}
    kids = collections.Counter((c["kind"], c["metadata"]["name"]) for c in thyme.children(namespace, name))
    assert kids == {("Job", f"{name}-convert-1"): 1, ("Job", f"{name}-sft-1"): 1}, kids


def test_suspend_stops_the_active_stage_and_resume_does_not_redo_finished_ones(thyme, thyme_operator, namespace):
    name = _name("pause")
    manifest = thyme.run_manifest(name, namespace)
    manifest["spec"]["stages"].pop("rl")
    manifest["spec"]["stages"]["convert"]["shards"] = 1
    manifest["spec"]["podMetadata"] = {"annotations": {RUN_MS_ANNOTATION: "2000"}}
    thyme.apply(manifest)
    thyme.wait_for("convert Job", lambda: thyme.job_names(namespace, name), timeout=20, interval=0.1)
    # convert's pods run 2 s; whatever starts after it (sft) "runs" for ten minutes.
    thyme.patch_spec(namespace, name, {"podMetadata": {"annotations": {RUN_MS_ANNOTATION: "600000"}}})

    def sft_running():
        run = thyme.get_run(namespace, name)
        return run if run.get("status", {}).get("stages", {}).get("sft", {}).get("state") == "Running" else None
    run = thyme.wait_for("sft running", sft_running, timeout=60)
    convert_attempts = run["status"]["stages"]["convert"]["attempts"]

    thyme.patch_spec(namespace, name, {"suspend": True})
    run = thyme.wait_phase(namespace, name, "Suspended", timeout=30, op=thyme_operator)
    assert _condition(run, "Suspended")["status"] == "True"
    thyme.wait_for("sft Job and pods gone",
                   lambda: f"{name}-sft-1" not in thyme.job_names(namespace, name)
                   and not thyme.cluster.get_json("pods", "-n", namespace, "-l", "thyme.dev/stage=sft")["items"], timeout=30)
    assert not thyme.children(namespace, name, "services")

    thyme.patch_spec(namespace, name, {"suspend": False, "podMetadata": {"annotations": {RUN_MS_ANNOTATION: "500"}}})
    run = thyme.wait_phase(namespace, name, "Succeeded", timeout=60, op=thyme_operator)
    assert run["status"]["stages"]["convert"]["attempts"] == convert_attempts     # not redone
    assert run["status"]["stages"]["sft"]["attempts"] == 1                         # same attempt resumed
    assert _condition(run, "Suspended")["reason"] == "Resumed"
    assert "Resumed" in _events(thyme.cluster, namespace, name)


def test_deleting_a_run_removes_its_children(thyme, thyme_operator, namespace):
    name = _name("gone")
    manifest = thyme.run_manifest(name, namespace)
    manifest["spec"]["stages"] = {"sft": manifest["spec"]["stages"]["sft"]}
    manifest["spec"]["podMetadata"] = {"annotations": {RUN_MS_ANNOTATION: "600000"}}
    thyme.apply(manifest)
    thyme.wait_for("sft Job and Service", lambda: len(thyme.children(namespace, name, "jobs,services")) == 2, timeout=20)
    # No finalizer on runs: deleting one never hangs on the operator being up.
    assert not thyme.get_run(namespace, name)["metadata"].get("finalizers")
    thyme.cluster.kubectl("delete", "thymerun", name, "-n", namespace, "--timeout=30s")
    thyme.wait_for("children garbage-collected",
                   lambda: not thyme.children(namespace, name)
                   and not thyme.cluster.get_json("pods", "-n", namespace, "-l", f"thyme.dev/run={name}")["items"],
                   timeout=60)


def test_queue_name_creates_suspended_jobs_labelled_for_kueue(thyme, thyme_operator, namespace):
    name = _name("queued")
    manifest = thyme.run_manifest(name, namespace)
    manifest["spec"]["scheduling"] = {"queueName": "team-a", "priorityClassName": "system-cluster-critical"}
    thyme.apply(manifest)
    thyme.wait_for("the convert Job", lambda: thyme.job_names(namespace, name), timeout=20, interval=0.2)
    job = thyme.cluster.get_json("job", f"{name}-convert-1", "-n", namespace)
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert job["spec"]["suspend"] is True
    assert job["spec"]["template"]["spec"]["priorityClassName"] == "system-cluster-critical"
    time.sleep(2)        # no Kueue here to admit it: the Job must stay without pods
    assert not thyme.cluster.get_json("pods", "-n", namespace, "-l", f"job-name={name}-convert-1")["items"]
    assert thyme.get_run(namespace, name)["status"]["phase"] == "Running"


def test_periodic_resync_repairs_a_status_no_event_would_fix(thyme, thyme_operator, namespace):
    # A status-only change triggers no handler (updates are watched on spec), so only the
    # operator-wide resync can put the true state back: this fails if the loop is dead.
    name = _name("resync")
    manifest = thyme.run_manifest(name, namespace, stages={"convert": {"shards": 1}})
    manifest["spec"]["dataset"]["splits"] = ["general"]
    manifest["spec"]["podMetadata"] = {"annotations": {RUN_MS_ANNOTATION: "200"}}
    thyme.apply(manifest)
    thyme.wait_phase(namespace, name, "Succeeded", timeout=60, op=thyme_operator)
    thyme.cluster.kubectl("patch", "thymerun", name, "-n", namespace, "--subresource=status", "--type=merge",
                          "-p", '{"status": {"phase": "Pending", "progress": "0/1"}}')
    # No check that it reads Pending now: a resync tick may already have repaired it (a
    # race the test would lose on a quiet machine). A dead loop leaves it Pending below.
    run = thyme.wait_phase(namespace, name, "Succeeded", timeout=40, op=thyme_operator)
    assert run["status"]["progress"] == "1/1"
    assert thyme.job_names(namespace, name) == [f"{name}-convert-1"]   # repaired, not redone
    # The repair is reported like any transition (an event posted from the resync loop).
    thyme.wait_for("the repair's event", lambda: _events(thyme.cluster, namespace, name).count("RunSucceeded") == 2,
                   timeout=30)


def test_eval_stage_runs_as_an_indexed_job_beside_its_own_sandbox(thyme, thyme_operator, namespace):
    name = _name("eval")
    thyme.apply(thyme.run_manifest(name, namespace, stages={"eval": {
        "benchmarks": [{"name": "VStarBench", "tsv": "benchmarks/VStarBench.tsv"}], "shards": 3, "gpusPerShard": 1,
        "resources": {"cpu": "1", "memory": "1Gi"}, "sandbox": {"replicas": 1},
        "retries": {"limit": 1, "backoffSeconds": 1}}}))

    def eval_children():
        kinds = {(c["kind"], c["metadata"]["name"]) for c in thyme.children(namespace, name)}
        return kinds if ("Job", f"{name}-eval-1") in kinds else None
    kinds = thyme.wait_for("the eval Job", eval_children, timeout=30)
    assert {("Deployment", f"{name}-eval-sandbox"), ("Service", f"{name}-eval-sandbox"),
            ("NetworkPolicy", f"{name}-eval-sandbox-deny-egress")} <= kinds
    job = thyme.cluster.get_json("job", f"{name}-eval-1", "-n", namespace)
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["thyme", "eval"] and container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    config = json.loads(next(e["value"] for e in container["env"] if e["name"] == "THYME_STAGE_CONFIG"))
    assert config["sandbox_url"] == f"http://{name}-eval-sandbox.{namespace}.svc:8080" and config["num_shards"] == 3

    run = thyme.wait_phase(namespace, name, "Succeeded", timeout=90, op=thyme_operator)
    assert run["status"]["progress"] == "1/1" and run["status"]["stages"]["eval"]["state"] == "Succeeded"
    assert run["status"]["stages"]["eval"]["artifact"] == f"s3://thyme/thyme/runs/{namespace}/{name}/eval"
    assert _condition(run, "EvalSucceeded")["status"] == "True"
    pods = thyme.cluster.get_json("pods", "-n", namespace, "-l", f"job-name={name}-eval-1")["items"]
    indices = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods)
    assert indices == ["0", "1", "2"]
    thyme.wait_for("the eval sandbox removed", lambda: not thyme.children(namespace, name, "deployments"), timeout=30)
