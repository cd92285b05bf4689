"""The planner, table by table: (spec, previous status, observed children, manifests,
now) -> (children created/deleted, stage states, phase, conditions, events)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from thyme_operator import api, conditions, planner
from thyme_operator.planner import ObservedChild as C

from .fixtures import spec

T0 = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
STAMP = planner.timestamp(T0)


def run(status: dict | None = None, **overrides) -> planner.RunView:
    return planner.RunView("demo", "ml", "uid-1", 1, spec(**overrides), api.ThymeRunStatus.model_validate(status or {}))


def job(stage: str, attempt: int, state: str, at: dt.datetime = T0, message: str = "", deleting: bool = False) -> C:
    return C("Job", f"demo-{stage}-{attempt}", stage, attempt, state,
             None if state == "Active" else planner.timestamp(at), message, deleting)


def stage_status(**stages) -> dict:
    return {"stages": {name: {"state": st, "attempts": n} for name, (st, n) in stages.items()}}


def created(p: planner.Plan) -> list[str]:
    return [f"{c['kind']}/{c['metadata']['name']}" for c in p.create]


def states(p: planner.Plan) -> dict[str, str]:
    return {k: v["state"] for k, v in p.status.get("stages", {}).items()}


def cond(p: planner.Plan, type_: str) -> dict:
    return conditions.get(p.status["conditions"], type_)


# (id, status, observed, manifests, now, expected creates, expected stage states, phase)
CASES = [
    ("new run starts convert attempt 1", None, [], set(), T0,
     ["Job/demo-convert-1"], {"convert": "Running"}, "Running"),
    ("running convert job: nothing to create", stage_status(convert=("Running", 1)), [job("convert", 1, "Active")], set(), T0,
     [], {"convert": "Running"}, "Running"),
    ("convert done starts sft with its service first", stage_status(convert=("Running", 1)),
     [job("convert", 1, "Succeeded")], set(), T0,
     ["Service/demo-sft", "Job/demo-sft-1"], {"convert": "Succeeded", "sft": "Running"}, "Running"),
    ("stage with manifest is skipped", None, [], {"convert"}, T0,
     ["Service/demo-sft", "Job/demo-sft-1"], {"convert": "Succeeded", "sft": "Running"}, "Running"),
    ("succeeded stays succeeded after its job is gone", stage_status(convert=("Succeeded", 1)), [], set(), T0,
     ["Service/demo-sft", "Job/demo-sft-1"], {"convert": "Succeeded", "sft": "Running"}, "Running"),
    ("failed attempt waits for its backoff", stage_status(convert=("Running", 1)),
     [job("convert", 1, "Failed", T0 - dt.timedelta(seconds=3), "BackoffLimitExceeded")], set(), T0,
     [], {"convert": "BackingOff"}, "Running"),
    ("failed attempt retried after backoff", stage_status(convert=("BackingOff", 1)),
     [job("convert", 1, "Failed", T0 - dt.timedelta(seconds=11))], set(), T0,
     ["Job/demo-convert-2"], {"convert": "Running"}, "Running"),
    ("second failure doubles the backoff", stage_status(convert=("Running", 2)),
     [job("convert", 1, "Failed", T0 - dt.timedelta(seconds=60)), job("convert", 2, "Failed", T0 - dt.timedelta(seconds=15))],
     set(), T0, [], {"convert": "BackingOff"}, "Running"),
    ("retries exhausted fails the run", stage_status(convert=("Running", 3)),
     [job("convert", n, "Failed", T0 - dt.timedelta(seconds=100)) for n in (1, 2, 3)], set(), T0,
     [], {"convert": "Failed"}, "Failed"),
    ("failed run stays failed", {"phase": "Failed", **stage_status(convert=("Failed", 3))}, [], set(), T0,
     [], {"convert": "Failed"}, "Failed"),
    ("newer attempt seen before our status patch is trusted", stage_status(convert=("Running", 1)),
     [job("convert", 1, "Failed"), job("convert", 2, "Active")], set(), T0,
     [], {"convert": "Running"}, "Running"),
    ("missing job of a recorded attempt is recreated, same name", stage_status(convert=("Running", 2)),
     [job("convert", 1, "Failed")], set(), T0,
     ["Job/demo-convert-2"], {"convert": "Running"}, "Running"),
    ("old job still being deleted: wait before reusing its name", stage_status(convert=("Suspended", 1)),
     [job("convert", 1, "Active", deleting=True)], set(), T0, [], {"convert": "Suspended"}, "Running"),
    ("all stages done", stage_status(convert=("Succeeded", 1), sft=("Succeeded", 1), rl=("Running", 1)),
     [job("rl", 1, "Succeeded")], set(), T0, [], {"convert": "Succeeded", "sft": "Succeeded", "rl": "Succeeded"}, "Succeeded"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_planner_table(case):
    _, status, observed, manifests, now, creates, expected_states, phase = case
    p = planner.plan(run(status), observed, frozenset(manifests), now)
    assert created(p) == creates
    for stage, state in expected_states.items():
        if state == "Suspended":
            continue
        assert states(p)[stage] == state
    assert p.status["phase"] == phase


def test_backoff_doubles_and_is_capped():
    policy = api.RetryPolicy(limit=5, backoff_seconds=10, max_backoff_seconds=30)
    assert [planner.backoff_seconds(policy, n) for n in (1, 2, 3, 4)] == [10, 20, 30, 30]


def test_backing_off_requeues_for_the_remaining_delay_and_says_when():
    p = planner.plan(run(stage_status(convert=("Running", 1))),
                     [job("convert", 1, "Failed", T0 - dt.timedelta(seconds=4), "pod failed")], frozenset(), T0)
    assert p.requeue_after == pytest.approx(6.0)
    assert cond(p, conditions.PROGRESSING)["reason"] == conditions.REASON_BACKING_OFF
    assert [e.reason for e in p.events] == [conditions.REASON_BACKING_OFF]
    assert "pod failed" in p.status["stages"]["convert"]["message"]


def test_exhausted_retries_give_failed_condition_naming_the_stage():
    p = planner.plan(run(stage_status(convert=("Succeeded", 1), sft=("Running", 4)), stages__sft__retries={"limit": 3}),
                     [job("sft", n, "Failed", T0 - dt.timedelta(hours=1), "BackoffLimitExceeded") for n in (1, 2, 3, 4)],
                     frozenset(), T0)
    failed = cond(p, conditions.FAILED)
    assert failed["status"] == "True" and failed["reason"] == conditions.REASON_STAGE_FAILED
    assert "stage sft failed after 4 attempt(s)" in failed["message"]
    assert p.status["currentStage"] == "sft" and p.status["phase"] == "Failed"
    assert cond(p, conditions.READY)["status"] == "False"
    assert cond(p, "SftSucceeded")["reason"] == "Failed"
    assert any(e.type == "Warning" and e.reason == conditions.REASON_STAGE_FAILED for e in p.events)
    assert "completionTime" in p.status


def test_a_usage_error_fails_the_stage_at_once_with_the_programs_reason():
    usage = C("Job", "demo-convert-1", "convert", 1, "Failed", STAMP,
              "thyme convert: /data: no <split>-NNNNN-of-MMMMM.parquet files", retryable=False)
    p = planner.plan(run(stage_status(convert=("Running", 1))), [usage], frozenset(), T0)
    assert p.create == [] and p.requeue_after is None          # no backoff, no attempt 2
    assert states(p) == {"convert": "Failed"} and p.status["phase"] == "Failed"
    failed = cond(p, conditions.FAILED)
    assert "not retried" in failed["message"] and "no <split>-NNNNN-of-MMMMM.parquet files" in failed["message"]
    assert {e.reason for e in p.events if e.type == "Warning"} == {conditions.REASON_STAGE_FAILED}


def test_suspend_deletes_the_active_job_and_stage_servers_and_resume_recreates_the_same_attempt():
    servers = [C("Deployment", "demo-rl-sandbox", "rl"), C("Service", "demo-rl-sandbox", "rl"),
               C("NetworkPolicy", "demo-rl-sandbox-deny-egress", "rl")]
    status = stage_status(convert=("Succeeded", 1), sft=("Succeeded", 1), rl=("Running", 2))
    observed = [job("rl", 1, "Failed"), job("rl", 2, "Active"), *servers]
    p = planner.plan(run(status, suspend=True), observed, frozenset(), T0)
    assert p.create == []
    assert ("Job", "demo-rl-2") in p.delete and ("Job", "demo-rl-1") not in p.delete
    assert {("Deployment", "demo-rl-sandbox"), ("Service", "demo-rl-sandbox")} <= set(p.delete)
    assert p.status["phase"] == "Suspended" and states(p)["rl"] == "Suspended"
    assert cond(p, conditions.SUSPENDED)["status"] == "True"

    resumed_status = {**p.status}
    p2 = planner.plan(run(resumed_status), [job("rl", 1, "Failed")], frozenset(), T0)
    assert created(p2)[-1] == "Job/demo-rl-2"       # same attempt, not a new one
    assert states(p2) == {"convert": "Succeeded", "sft": "Succeeded", "rl": "Running"}
    assert cond(p2, conditions.SUSPENDED)["reason"] == conditions.REASON_RESUMED
    assert any(e.reason == conditions.REASON_RESUMED for e in p2.events)


def test_succeeded_run_sets_ready_and_deletes_rl_servers():
    status = stage_status(convert=("Succeeded", 1), sft=("Succeeded", 1), rl=("Running", 1))
    p = planner.plan(run(status), [job("rl", 1, "Succeeded"), C("Deployment", "demo-rl-sandbox", "rl")], frozenset(), T0)
    assert cond(p, conditions.READY)["status"] == "True"
    assert ("Deployment", "demo-rl-sandbox") in p.delete
    assert p.status["progress"] == "3/3"
    assert p.status["stages"]["rl"]["artifact"] == "s3://thyme/thyme/runs/ml/demo/rl/final"


def test_steady_state_produces_an_identical_status_so_nothing_is_patched():
    first = planner.plan(run(), [], frozenset(), T0)
    second = planner.plan(run(first.status), [job("convert", 1, "Active")], frozenset(), T0 + dt.timedelta(minutes=5))
    assert second.status == first.status
    assert second.events == [] and second.create == []


def test_condition_transition_time_moves_only_when_status_flips():
    first = planner.plan(run(), [], frozenset(), T0)
    later = T0 + dt.timedelta(minutes=1)
    second = planner.plan(run(first.status), [job("convert", 1, "Succeeded", later)], frozenset(), later)
    assert cond(second, "ConvertSucceeded")["lastTransitionTime"] == planner.timestamp(later)
    assert cond(second, conditions.PROGRESSING)["lastTransitionTime"] == STAMP


def test_missing_supporting_child_of_running_attempt_is_recreated():
    status = stage_status(convert=("Succeeded", 1), sft=("Running", 1))
    p = planner.plan(run(status), [job("sft", 1, "Active")], frozenset(), T0)
    assert created(p) == ["Service/demo-sft"]


def test_run_without_convert_starts_at_sft():
    p = planner.plan(run(stages__convert=None), [], frozenset(), T0)
    assert created(p) == ["Service/demo-sft", "Job/demo-sft-1"]
    assert p.status["progress"] == "0/2"


def test_resumed_reason_is_kept_after_the_resume():
    suspended = planner.plan(run(stage_status(convert=("Running", 1)), suspend=True), [job("convert", 1, "Active")], frozenset(), T0)
    resumed = planner.plan(run(suspended.status), [], frozenset(), T0)
    later = planner.plan(run(resumed.status), [job("convert", 1, "Active")], frozenset(), T0)
    assert cond(later, conditions.SUSPENDED)["reason"] == conditions.REASON_RESUMED
    assert later.status == resumed.status


EVAL_STAGE = {"benchmarks": [{"name": "VStarBench", "tsv": "b/v.tsv"}], "shards": 2}


def test_eval_runs_after_rl_then_its_sandbox_goes_and_the_run_succeeds():
    status = stage_status(convert=("Succeeded", 1), sft=("Succeeded", 1), rl=("Running", 1))
    rl_sandbox = C("Deployment", "demo-rl-sandbox", "rl")
    p = planner.plan(run(status, stages__eval=EVAL_STAGE), [job("rl", 1, "Succeeded"), rl_sandbox], frozenset(), T0)
    assert created(p) == ["NetworkPolicy/demo-eval-sandbox-deny-egress", "Deployment/demo-eval-sandbox",
                          "Service/demo-eval-sandbox", "Job/demo-eval-1"]
    assert ("Deployment", "demo-rl-sandbox") in p.delete
    assert states(p)["eval"] == "Running" and p.status["progress"] == "3/4"
    done = planner.plan(run({**p.status}, stages__eval=EVAL_STAGE),
                        [job("eval", 1, "Succeeded"), C("Deployment", "demo-eval-sandbox", "eval")], frozenset(), T0)
    assert done.status["phase"] == "Succeeded" and ("Deployment", "demo-eval-sandbox") in done.delete
    assert cond(done, "EvalSucceeded")["status"] == "True"


def test_the_eval_stages_status_quotes_the_headline_its_pod_wrote():
    status = stage_status(convert=("Succeeded", 1), sft=("Succeeded", 1), rl=("Succeeded", 1), eval=("Running", 1))
    finished = dataclasses.replace(job("eval", 1, "Succeeded"), result="VStarBench: rl 31.2")
    p = planner.plan(run(status, stages__eval=EVAL_STAGE), [finished], frozenset(), T0)
    assert p.status["stages"]["eval"]["message"] == "attempt 1 succeeded: VStarBench: rl 31.2"
    quiet = planner.plan(run(status, stages__eval=EVAL_STAGE), [job("eval", 1, "Succeeded")], frozenset(), T0)
    assert quiet.status["stages"]["eval"]["message"] == "attempt 1 succeeded"


def test_eval_alone_scores_models_already_in_the_store():
    p = planner.plan(run(None, stages={"eval": EVAL_STAGE}), [], frozenset(), T0)
    assert created(p)[-1] == "Job/demo-eval-1" and states(p) == {"eval": "Running"}
    skipped = planner.plan(run(None, stages={"eval": EVAL_STAGE}), [], frozenset({"eval"}), T0)
    assert skipped.status["phase"] == "Succeeded" and created(skipped) == []


def _running(stage: str = "convert", attempt: int = 1, since: dt.datetime = T0, start: dt.datetime | None = None) -> dict:
    return {"stages": {stage: {"state": "Running", "attempts": attempt, "startTime": planner.timestamp(start or since),
                               "attemptStartTime": planner.timestamp(since)}}}


def pending_job(stage: str, attempt: int, started: dt.datetime, ran: bool = False, suspended: bool = False) -> C:
    return C("Job", f"demo-{stage}-{attempt}", stage, attempt, "Active", None, "", False,
             suspended=suspended, started_at=planner.timestamp(started), ran=ran)


def test_an_attempt_whose_pods_never_run_fails_the_stage_after_the_pending_timeout():
    before = planner.plan(run(_running()), [pending_job("convert", 1, T0)], frozenset(), T0 + dt.timedelta(seconds=3599))
    assert states(before) == {"convert": "Running"} and before.requeue_after == pytest.approx(1.0)
    p = planner.plan(run(_running()), [pending_job("convert", 1, T0)], frozenset(), T0 + dt.timedelta(seconds=3600))
    assert states(p)["convert"] == "Failed" and p.status["phase"] == "Failed"
    failed = cond(p, conditions.FAILED)
    assert failed["reason"] == conditions.REASON_PENDING_TIMEOUT and "pendingSeconds" in failed["message"]
    assert ("Job", "demo-convert-1") in p.delete
    assert any(e.reason == conditions.REASON_PENDING_TIMEOUT for e in p.events)


def test_a_job_whose_pod_ran_or_that_kueue_holds_is_not_pending():
    late = T0 + dt.timedelta(hours=5)
    for child in (pending_job("convert", 1, T0, ran=True), pending_job("convert", 1, T0, suspended=True)):
        assert states(planner.plan(run(_running()), [child], frozenset(), late)) == {"convert": "Running"}


def test_a_job_the_api_server_keeps_refusing_fails_the_stage_after_the_pending_timeout():
    status = _running(since=T0)
    status["stages"]["convert"]["message"] = "attempt 1: Job demo-convert-1 refused: exceeded quota: no-jobs"
    p = planner.plan(run(status, stages__convert__timeouts={"pendingSeconds": 60}), [], frozenset(),
                     T0 + dt.timedelta(seconds=61))
    assert states(p)["convert"] == "Failed"
    message = cond(p, conditions.FAILED)["message"]
    assert "never created" in message and "exceeded quota: no-jobs" in message


def test_a_stage_past_its_deadline_fails_with_the_reason_even_while_its_pods_run():
    status = _running(start=T0 - dt.timedelta(hours=2), since=T0)
    observed = [pending_job("convert", 1, T0, ran=True)]
    spec_over = {"stages__convert__timeouts": {"deadlineSeconds": 7200}}
    assert states(planner.plan(run(status, **spec_over), observed, frozenset(), T0 - dt.timedelta(seconds=1))) == \
        {"convert": "Running"}
    p = planner.plan(run(status, **spec_over), observed, frozenset(), T0)
    assert states(p)["convert"] == "Failed"
    assert cond(p, conditions.FAILED)["reason"] == conditions.REASON_DEADLINE_EXCEEDED
    assert ("Job", "demo-convert-1") in p.delete
    # and the reason stays on the next pass
    again = planner.plan(run(p.status, **spec_over), observed, frozenset(), T0 + dt.timedelta(seconds=5))
    assert cond(again, conditions.FAILED)["reason"] == conditions.REASON_DEADLINE_EXCEEDED


def test_a_refused_create_becomes_a_condition_the_stage_message_and_one_event():
    p = planner.plan(run(), [], frozenset(), T0)
    refusal = planner.Refusal("Job", "demo-convert-1", "convert",
                              'jobs.batch "demo-convert-1" is forbidden: exceeded quota: no-jobs')
    planner.record_refusals(p, [refusal], 1, T0)
    created_cond = cond(p, conditions.WORKLOADS_CREATED)
    assert created_cond["status"] == "False" and created_cond["reason"] == conditions.REASON_CREATE_REFUSED
    assert "exceeded quota: no-jobs" in created_cond["message"]
    assert "exceeded quota" in p.status["stages"]["convert"]["message"]
    assert [e.reason for e in p.events if e.type == "Warning"] == [conditions.REASON_CREATE_REFUSED]
    # the same refusal on the next pass is not announced again; a create that goes through clears it
    p2 = planner.plan(run(p.status), [], frozenset(), T0 + dt.timedelta(seconds=10))
    planner.record_refusals(p2, [refusal], 1, T0 + dt.timedelta(seconds=10))
    assert not [e for e in p2.events if e.reason == conditions.REASON_CREATE_REFUSED]
    p3 = planner.plan(run(p2.status), [], frozenset(), T0 + dt.timedelta(seconds=20))
    planner.record_refusals(p3, [], 1, T0 + dt.timedelta(seconds=20))
    assert cond(p3, conditions.WORKLOADS_CREATED)["status"] == "True"
