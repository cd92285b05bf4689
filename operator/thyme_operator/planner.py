"""The planner: (spec, observed children, committed manifests, now) -> a plan.

Every decision of the pipeline lives here and nowhere else: stage order, when a stage
counts as done, retries and their backoff, suspend and resume, the run's phase and
conditions. It is a pure function, so a table of cases tests all of it
(tests/unit/thyme_operator/test_planner.py), and so a restarted operator, given what
exists, decides exactly what the old one would have.

State is derived from the children first and from the previous status second: Job
names are deterministic (`<run>-<stage>-<attempt>`), so the newest attempt and its
outcome can be read off the cluster, and a stale status (our own patch not yet seen
through the watch) can at worst ask to create a child that exists, which the API
server refuses with 409.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from thyme_operator import api, conditions, names, stage_configs
from thyme_operator import policy as policies
from thyme_operator.builders import meta, probe, stages, tools

JobState = Literal["Active", "Succeeded", "Failed"]


@dataclass(frozen=True)
class ObservedChild:
    """What the planner needs to know about one existing child."""

    kind: str
    name: str
    stage: str | None = None
    attempt: int | None = None
    state: JobState | None = None       # Jobs only
    finished_at: str | None = None      # Jobs only: when Complete/Failed became True
    message: str = ""
    deleting: bool = False
    suspended: bool = False             # Jobs only: spec.suspend (Kueue has not admitted it)
    started_at: str | None = None       # Jobs only: status.startTime, else creationTimestamp
    ran: bool = False                   # Jobs only: some pod of it has been ready, succeeded or failed
    completed_indexes: str = ""         # Indexed Jobs only: status.completedIndexes, e.g. "0,2-3"
    retryable: bool = True              # Jobs only: False when the program refused its input (exits.py)
    result: str = ""                    # succeeded Jobs only: the program's closing line (its termination message)


@dataclass(frozen=True)
class RunView:
    """The parts of a ThymeRun object the planner reads."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: api.ThymeRunSpec
    status: api.ThymeRunStatus


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Refusal:
    """A child the API server refused to create (kube.apply reports these)."""

    kind: str
    name: str
    stage: str | None
    message: str


@dataclass
class Plan:
    """What to do now: children to create (in order) and delete, the new status, the
    events to post, and when to look again even if nothing changes."""

    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[tuple[str, str]] = field(default_factory=list)      # (kind, name)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


def timestamp(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def backoff_seconds(policy: api.RetryPolicy, failed_attempt: int) -> float:
    """Delay after attempt n failed: backoffSeconds * 2^(n-1), capped."""
    return float(min(policy.backoff_seconds * 2 ** (failed_attempt - 1), policy.max_backoff_seconds))


def plan(run: RunView, observed: list[ObservedChild], manifests: frozenset[str] | None, now: dt.datetime,
         policy: policies.Policy = policies.Policy()) -> Plan:
    """`manifests`: the stages committed in the store, or None when the executor cannot
    read the store (the operator): then the manifest probe Job finds out, and a new run
    waits for its answer before its first stage starts."""
    spec, prev = run.spec, run.status
    owner = meta.Owner(run.name, run.namespace, run.uid)
    stamp = timestamp(now)
    out = Plan()
    present = {(c.kind, c.name) for c in observed}
    order = spec.stage_names()
    new_stages: dict[str, api.StageStatus] = {}
    phase: api.Phase = "Succeeded"
    current: str | None = None
    failure_message = ""
    failure_reason = conditions.REASON_STAGE_FAILED

    def create_missing(stage: str, attempt: int) -> None:
        for child in stages.workloads(spec, owner, stage, attempt):
            if (child["kind"], child["metadata"]["name"]) not in present:
                out.create.append(child)

    def delete_servers(stage: str) -> None:
        """Drop a stage's non-Job children (Services, servers, policies)."""
        for c in observed:
            if c.stage == stage and c.kind != "Job" and not c.deleting:
                out.delete.append((c.kind, c.name))

    refused = policy.refused_images(spec)
    if refused:
        # Nothing is created until the spec names allowed images; stage states stay as they are.
        kept = {s: (getattr(prev.stages, s) or api.StageStatus()).model_copy() for s in order}
        first = next((s for s in order if kept[s].state != "Succeeded"), None)
        out.status = _status(run, order, kept, "Failed", first, policy.refusal_message(refused),
                             conditions.REASON_IMAGE_NOT_ALLOWED, stamp, out)
        return out

    if manifests is None:
        manifests = _probed_manifests(run, observed, now, out)
        if manifests is None:            # the probe has not answered yet
            waiting = {order[0]: api.StageStatus(message=f"waiting for Job {names.manifest_probe(run.name)} to "
                                                         f"check the store for committed stages")}
            out.status = _status(run, order, waiting, "Pending", order[0], "", conditions.REASON_STAGE_FAILED, stamp, out)
            return out

    for stage in order:
        old = getattr(prev.stages, stage) or api.StageStatus()
        st = old.model_copy()
        jobs = {c.attempt: c for c in observed if c.kind == "Job" and c.stage == stage and c.attempt}
        attempt = max([*jobs, old.attempts])
        job = jobs.get(attempt)
        policy = spec.retries(stage)
        new_stages[stage] = st

        if old.state == "Succeeded" or stage in manifests or (job is not None and job.state == "Succeeded"):
            if old.state != "Succeeded":
                found = stage in manifests and not (job is not None and job.state == "Succeeded")
                st.message = "manifest already in the store; skipped" if found else f"attempt {attempt} succeeded"
                if not found and job is not None and job.result:
                    st.message += f": {job.result}"  # e.g. the eval stage's headline numbers
                st.completion_time = (job.finished_at if job is not None and job.finished_at else stamp)
                st.start_time = st.start_time or st.completion_time
                out.events.append(Event("Normal", conditions.REASON_MANIFEST_FOUND if found else conditions.REASON_STAGE_SUCCEEDED,
                                        f"stage {stage}: {st.message}"))
            st.state = "Succeeded"
            st.artifact = stage_configs.artifact(spec, run.namespace, run.name, stage)
            delete_servers(stage)
            continue

        current = stage
        if old.state == "Failed":
            phase, failure_message = "Failed", st.message or f"stage {stage} failed"
            previous = conditions.get([c.model_dump(by_alias=True) for c in prev.conditions], conditions.FAILED) or {}
            if previous.get("status") == "True":
                failure_reason = previous.get("reason") or failure_reason
            delete_servers(stage)
            break

        if spec.suspend:
            phase = "Suspended"
            if job is not None and job.state == "Active" and not job.deleting:
                out.delete.append(("Job", job.name))
            delete_servers(stage)
            if old.state != "Suspended":
                st.message = f"suspended by spec.suspend (attempt {attempt} will resume)" if attempt else "suspended before start"
                out.events.append(Event("Normal", conditions.REASON_SUSPENDED, f"stage {stage}: {st.message}"))
            st.state = "Suspended"
            break

        limit = _limit_reached(spec.timeouts(stage), old, st, job, attempt, now)
        if limit is not None:
            reason, why = limit
            st.state, st.attempts, st.completion_time = "Failed", attempt, stamp
            st.message = f"stage {stage} failed ({reason}): {why}"
            out.events.append(Event("Warning", reason, st.message))
            phase, failure_message, failure_reason = "Failed", st.message, reason
            if job is not None and job.state == "Active" and not job.deleting:
                out.delete.append(("Job", job.name))
            delete_servers(stage)
            break

        phase = "Running"
        if job is not None and job.deleting:
            out.requeue_after = 1.0          # the old object must go before its name is reused
            break
        if job is None:
            attempt = attempt or 1
            create_missing(stage, attempt)
            if old.state != "Running" or old.attempts != attempt:
                verb = "resumed" if old.state == "Suspended" else "started"
                out.events.append(Event("Normal", conditions.REASON_STAGE_RUNNING, f"stage {stage}: attempt {attempt} {verb}"))
            st.state, st.attempts = "Running", attempt
            st.start_time = st.start_time or stamp
            if old.state != "Running" or old.attempts != attempt or not old.attempt_start_time:
                st.attempt_start_time = stamp
            st.message = f"attempt {attempt} running"
            _wake_for_limits(out, spec.timeouts(stage), st, job, now)
            break

        if job.state == "Failed":
            reason = job.message or "Job failed"
            if attempt - 1 < policy.limit and job.retryable:
                failed_at = parse_time(job.finished_at) if job.finished_at else now
                due = failed_at + dt.timedelta(seconds=backoff_seconds(policy, attempt))
                if now >= due:
                    create_missing(stage, attempt + 1)
                    out.events.append(Event("Warning", "StageRetrying",
                                            f"stage {stage}: attempt {attempt} failed ({reason}); starting attempt {attempt + 1}"))
                    st.state, st.attempts = "Running", attempt + 1
                    st.attempt_start_time = stamp
                    st.message = f"attempt {attempt + 1} running after: {reason}"
                else:
                    if old.state != "BackingOff":
                        out.events.append(Event("Warning", conditions.REASON_BACKING_OFF,
                                                f"stage {stage}: attempt {attempt} failed ({reason}); retry at {timestamp(due)}"))
                    st.state, st.attempts = "BackingOff", attempt
                    st.message = f"attempt {attempt} failed: {reason}; retry {attempt} of {policy.limit} at {timestamp(due)}"
                    out.requeue_after = max((due - now).total_seconds(), 0.1)
                break
            st.state, st.attempts, st.completion_time = "Failed", attempt, stamp
            st.message = (f"stage {stage} failed after {attempt} attempt(s), retry limit {policy.limit}: {reason}"
                          if job.retryable else
                          f"stage {stage} failed on attempt {attempt} with an error in its config or input, "
                          f"not retried: {reason}")
            out.events.append(Event("Warning", conditions.REASON_STAGE_FAILED, st.message))
            phase, failure_message = "Failed", st.message
            delete_servers(stage)
            break

        # Active (or held suspended by Kueue): make sure every child of the attempt exists.
        create_missing(stage, attempt)
        st.state, st.attempts = "Running", attempt
        st.start_time = st.start_time or stamp
        st.attempt_start_time = st.attempt_start_time or job.started_at or stamp
        st.message = f"attempt {attempt} running"
        _wake_for_limits(out, spec.timeouts(stage), st, job, now)
        break

    _plan_tools(spec, owner, observed, present, phase, out)
    out.status = _status(run, order, new_stages, phase, current, failure_message, failure_reason, stamp, out)
    return out


def _probed_manifests(run: RunView, observed: list[ObservedChild], now: dt.datetime, out: Plan) -> frozenset[str] | None:
    """The committed stages as the manifest probe found them; None while it is still to
    answer (and then `out` asks for the probe if it does not exist yet).

    Only a run that has not started a stage waits for the probe. A run that already has
    (one from before the probe existed, or whose probe was deleted) goes on with no
    stage known committed, which is safe: a stage program that finds its own manifest
    exits at once. A probe the API server refuses, or that cannot run within the first
    stage's pending timeout, is given up on the same way."""
    order = run.spec.stage_names()
    found = next((c for c in observed if c.kind == "Job" and c.name == names.manifest_probe(run.name)), None)
    if found is not None and found.state in ("Succeeded", "Failed"):
        done = _indexes(found.completed_indexes)
        return frozenset(s for i, s in enumerate(order) if i in done)
    started = any(getattr(run.status.stages, s) is not None and
                  (getattr(run.status.stages, s).attempts or getattr(run.status.stages, s).state not in ("Pending",))
                  for s in order) or any(c.kind == "Job" and c.stage in order for c in observed)
    if started or run.spec.suspend or _probe_refused(run):
        return frozenset()
    if found is None:
        out.create.append(probe.manifest_probe(run.spec, meta.Owner(run.name, run.namespace, run.uid),
                                               stage_configs.probe_config(run.spec, run.namespace, run.name)))
        out.requeue_after = 5.0
        return None
    waited = run.spec.timeouts(order[0]).pending_seconds
    if waited and found.started_at and not found.ran and \
            (now - parse_time(found.started_at)).total_seconds() >= waited:
        return frozenset()
    out.requeue_after = 5.0
    return None


def _probe_refused(run: RunView) -> bool:
    """The API server refused the probe Job (a quota, a webhook): go on without it."""
    conds = [c.model_dump(by_alias=True) for c in run.status.conditions]
    created = conditions.get(conds, conditions.WORKLOADS_CREATED) or {}
    return created.get("status") == "False" and \
        str(created.get("message", "")).startswith(f"Job {names.manifest_probe(run.name)} refused")


def _indexes(spec: str) -> set[int]:
    """`status.completedIndexes` ("0,2-3") as a set of ints."""
    out: set[int] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


def _pending_since(old: api.StageStatus, job: ObservedChild | None, attempt: int) -> str | None:
    """Since when the current attempt has had no running pod, or None when the clock is
    not running: a pod has run, the Job is held by Kueue, or nothing was asked for yet."""
    if job is None:
        # Asked for before (a create the API server refused), and still not there.
        if old.state == "Running" and old.attempts == attempt and attempt:
            return old.attempt_start_time
        return None
    if job.state != "Active" or job.deleting or job.suspended or job.ran:
        return None
    return job.started_at or old.attempt_start_time


def _limit_reached(timeouts: api.StageTimeouts, old: api.StageStatus, st: api.StageStatus,
                   job: ObservedChild | None, attempt: int, now: dt.datetime) -> tuple[str, str] | None:
    """(reason, message) when the stage passed its deadline or its attempt its pending timeout."""
    if timeouts.deadline_seconds and st.start_time:
        if (now - parse_time(st.start_time)).total_seconds() >= timeouts.deadline_seconds:
            return (conditions.REASON_DEADLINE_EXCEEDED,
                    f"still unfinished {timeouts.deadline_seconds} s after it started at {st.start_time} "
                    f"(timeouts.deadlineSeconds); last: {old.message or 'no message'}")
    since = _pending_since(old, job, attempt)
    if timeouts.pending_seconds and since:
        if (now - parse_time(since)).total_seconds() >= timeouts.pending_seconds:
            seen = "its Job was never created" if job is None else "its Job has no pod that ran"
            return (conditions.REASON_PENDING_TIMEOUT,
                    f"no pod of attempt {attempt} ran within {timeouts.pending_seconds} s (timeouts.pendingSeconds); "
                    f"{seen}; last: {old.message or 'no message'}")
    return None


def _wake_for_limits(out: Plan, timeouts: api.StageTimeouts, st: api.StageStatus,
                     job: ObservedChild | None, now: dt.datetime) -> None:
    """Look again when a running limit would pass, even if no event comes."""
    due: list[dt.datetime] = []
    if timeouts.deadline_seconds and st.start_time:
        due.append(parse_time(st.start_time) + dt.timedelta(seconds=timeouts.deadline_seconds))
    pending_from = (job.started_at or st.attempt_start_time) if job is not None and job.state == "Active" \
        and not (job.ran or job.suspended) else (st.attempt_start_time if job is None else None)
    if timeouts.pending_seconds and pending_from:
        due.append(parse_time(pending_from) + dt.timedelta(seconds=timeouts.pending_seconds))
    if due:
        delay = max((min(due) - now).total_seconds(), 0.1)
        out.requeue_after = delay if out.requeue_after is None else min(out.requeue_after, delay)


def record_refusals(plan: Plan, refusals: list[Refusal], generation: int, now: dt.datetime) -> Plan:
    """The plan's status and events after its creates ran: a refused child becomes the
    WorkloadsCreated=False condition, the stage's message and one Warning event (not one
    per resync: only when the refusal's text changes); creates that all went through
    turn the condition back to True."""
    if not plan.create and not refusals:
        return plan
    stamp = timestamp(now)
    conds = [dict(c) for c in plan.status.get("conditions", [])]
    previous = conditions.get(conds, conditions.WORKLOADS_CREATED) or {}
    if refusals:
        first = refusals[0]
        message = f"{first.kind} {first.name} refused: {first.message}"[:4000]
        conds = conditions.set_condition(conds, conditions.WORKLOADS_CREATED, "False", conditions.REASON_CREATE_REFUSED,
                                         message, generation, stamp)
        if previous.get("message") != message or previous.get("status") != "False":
            plan.events.append(Event("Warning", conditions.REASON_CREATE_REFUSED, message))
        stage = plan.status.get("stages", {}).get(first.stage or "")
        if stage is not None:
            stage["message"] = f"attempt {stage.get('attempts', 1)}: {message}"
    else:
        conds = conditions.set_condition(conds, conditions.WORKLOADS_CREATED, "True", conditions.REASON_CREATED,
                                         "every workload of the current attempt was created", generation, stamp)
    plan.status["conditions"] = conds
    return plan


def _plan_tools(spec: api.ThymeRunSpec, owner: meta.Owner, observed: list[ObservedChild],
                present: set[tuple[str, str]], phase: str, out: Plan) -> None:
    """The tool servers are up while the run is Running and gone otherwise (suspended, done).

    They go first in the creation order, so a stage's pods find the tools' Services as they start.
    """
    wanted = tools.children(spec, owner)
    if phase == "Running":
        out.create[:0] = [c for c in wanted if (c["kind"], c["metadata"]["name"]) not in present]
        return
    names_ = {(c["kind"], c["metadata"]["name"]) for c in wanted}
    out.delete += [(c.kind, c.name) for c in observed if (c.kind, c.name) in names_ and not c.deleting]


def _status(run: RunView, order: list[str], new_stages: dict[str, api.StageStatus], phase: str,
            current: str | None, failure_message: str, failure_reason: str, stamp: str, out: Plan) -> dict[str, Any]:
    prev = run.status
    done = sum(1 for s in new_stages.values() if s.state == "Succeeded")
    gen = run.generation
    conds = [c.model_dump(by_alias=True, exclude_none=True) for c in prev.conditions]

    def cond(type_: str, ok: bool, reason: str, message: str) -> None:
        nonlocal conds
        conds = conditions.set_condition(conds, type_, "True" if ok else "False", reason, message, gen, stamp)

    running_reason = conditions.REASON_STAGE_RUNNING
    if current and new_stages.get(current) and new_stages[current].state == "BackingOff":
        running_reason = conditions.REASON_BACKING_OFF
    current_msg = (new_stages[current].message or "") if current in new_stages else ""
    cond(conditions.READY, phase == "Succeeded",
         conditions.REASON_RUN_SUCCEEDED if phase == "Succeeded" else (conditions.REASON_STAGE_FAILED if phase == "Failed" else conditions.REASON_PENDING),
         "all stages succeeded" if phase == "Succeeded" else f"{done}/{len(order)} stages done")
    cond(conditions.PROGRESSING, phase == "Running",
         running_reason if phase == "Running" else phase,
         f"stage {current}: {current_msg}" if phase == "Running" else f"run is {phase}")
    cond(conditions.FAILED, phase == "Failed",
         failure_reason if phase == "Failed" else conditions.REASON_NOT_FAILED,
         failure_message if phase == "Failed" else "")
    previous = conditions.get(conds, conditions.SUSPENDED) or {}
    # "Resumed" stays the reason until the next suspend: it tells the run was paused once.
    was_suspended = previous.get("status") == "True" or previous.get("reason") == conditions.REASON_RESUMED
    cond(conditions.SUSPENDED, phase == "Suspended",
         conditions.REASON_SUSPENDED if phase == "Suspended" else (conditions.REASON_RESUMED if was_suspended else conditions.REASON_NOT_SUSPENDED),
         "spec.suspend is true" if phase == "Suspended" else "")
    for stage in order:
        st = new_stages.get(stage)
        state = st.state if st else "Pending"
        cond(conditions.stage_type(stage), state == "Succeeded",
             conditions.REASON_STAGE_SUCCEEDED if state == "Succeeded" else state,
             (st.message or "") if st else "not started")

    if prev.phase != phase and phase in ("Succeeded", "Failed"):
        out.events.append(Event("Normal" if phase == "Succeeded" else "Warning",
                                conditions.REASON_RUN_SUCCEEDED if phase == "Succeeded" else failure_reason,
                                "all stages succeeded" if phase == "Succeeded" else failure_message))
    if prev.phase == "Suspended" and phase == "Running":
        out.events.append(Event("Normal", conditions.REASON_RESUMED, f"resumed at stage {current}"))
    terminal = phase in ("Succeeded", "Failed")
    status = api.ThymeRunStatus(
        phase=phase, current_stage=current, progress=f"{done}/{len(order)}", observed_generation=gen,
        start_time=prev.start_time or stamp,
        completion_time=(prev.completion_time or stamp) if terminal else None,
        conditions=[api.Condition.model_validate(c) for c in conds],
        stages=api.StagesStatus(**{s: new_stages[s] for s in new_stages}),
    )
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")
