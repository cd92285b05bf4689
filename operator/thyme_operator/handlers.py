"""kopf handlers: decorators and wiring only; decisions are in planner.py.

Every trigger (create, update, resume after a restart, a periodic resync, a child Job
changing state) runs the same reconcile: parse the body, read the run's children from kopf indexes,
ask the planner, apply its plan through kube.py. kopf fills the indexes before any
handler runs, so after a restart `resume` sees every child that exists and the
planner re-derives the run's state from them instead of redoing work.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

import kopf

from thyme_operator import api, kube, metrics, names, planner, policy

RUNS = (api.GROUP, api.VERSION, api.PLURAL)
OWNED = {names.LABEL_RUN: kopf.PRESENT}
INDEXES = ("thymeruns", "job_children", "service_children", "deployment_children", "policy_children")
RESYNC_SECONDS = 10.0
"""How often every run is reconciled even without an event: a safety net for missed
events. Child Job events and the planner's requeue (backoff expiry) drive the pipeline.
This is one operator-wide loop, not a kopf timer: per-object timers make kopf put a
finalizer on every run, which costs a round trip before the first child is created
and blocks deletion while the operator is down."""


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = f"{api.GROUP}/finalizer"
    settings.scanning.disabled = True          # no namespace/CRD listing: less RBAC
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.execution.max_workers = 16
    memo.kube = memo.get("kube") or kube.Client.from_environment()
    memo.policy = memo.get("policy") or policy.from_environment()
    memo.locks = {}
    memo.phases = {}
    memo.requeues = {}
    memo.job_states = {}
    memo.written = {}       # (namespace, name) -> kube.StatusWrite not yet seen through the watch
    # kopf gives each object's handlers a shallow copy of this memo, so an attribute set
    # in a handler never reaches the others; a dict made here is shared by all copies.
    memo.live = {}


# --- indexes of children, keyed by (namespace, run)
@kopf.index("batch", "v1", "jobs", labels=OWNED)
async def job_children(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, labels[names.LABEL_RUN]): kube.observe(body)}


@kopf.index("v1", "services", labels=OWNED)
async def service_children(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, labels[names.LABEL_RUN]): kube.observe(body)}


@kopf.index("apps", "v1", "deployments", labels=OWNED)
async def deployment_children(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, labels[names.LABEL_RUN]): kube.observe(body)}


@kopf.index("networking.k8s.io", "v1", "networkpolicies", labels=OWNED)
async def policy_children(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, labels[names.LABEL_RUN]): kube.observe(body)}


@kopf.index(*RUNS)
async def thymeruns(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict:
    return {(namespace, name): body}


# --- triggers
@kopf.on.create(*RUNS, backoff=2.0)
@kopf.on.update(*RUNS, field="spec", backoff=2.0)
@kopf.on.resume(*RUNS, backoff=2.0)
async def run_changed(namespace: str, name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    await reconcile((namespace, name), memo, kwargs)


@kopf.on.cleanup()
async def stop_resync(memo: kopf.Memo, **_: Any) -> None:
    task = memo.live.get("resync")
    if task is not None:
        task.cancel()


@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
async def child_job_changed(type: str, body: kopf.Body, namespace: str, name: str, labels: kopf.Labels,
                            memo: kopf.Memo, thymeruns: kopf.Index, **kwargs: Any) -> None:
    # Most Job events are counters moving (active, ready); only a new state matters.
    seen = kube.observe(body)
    if type != "DELETED" and memo.job_states.get((namespace, name)) == seen:
        return
    memo.job_states[(namespace, name)] = seen
    if type == "DELETED":
        memo.job_states.pop((namespace, name), None)
    key = (namespace, labels[names.LABEL_RUN])
    if key in thymeruns:
        await reconcile(key, memo, {"thymeruns": thymeruns, **kwargs})


@kopf.on.delete(*RUNS, optional=True)
async def run_deleted(namespace: str, name: str, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    memo.phases.pop((namespace, name), None)
    memo.locks.pop((namespace, name), None)
    memo.written.pop((namespace, name), None)
    metrics.record_phases(memo.phases)
    logger.info("children go with the run (ownerReferences); artifacts stay in the store")


async def reconcile(key: tuple[str, str], memo: kopf.Memo, indexes: dict[str, Any]) -> None:
    """Plan and apply for one run, one pass at a time per run, from the newest body known:
    the index's, or our own status patch while the watch has not delivered it yet."""
    if "resync" not in memo.live:
        # Started by the first reconcile, not at startup: the loop needs kopf's indexes,
        # which only handlers are given, and kopf.event() works only in the context kopf
        # sets up for an object's handlers, which a task inherits from where it is made.
        memo.live["resync"] = asyncio.create_task(_resync_forever(memo, {n: indexes[n] for n in INDEXES}))
    async with memo.locks.setdefault(key, asyncio.Lock()):
        stored = next(iter(indexes["thymeruns"].get(key, ())), None)
        if stored is None or stored.get("metadata", {}).get("deletionTimestamp"):
            return
        started = time.monotonic()
        write = memo.written.pop(key, None)
        if write is not None and not write.newer_than(stored):
            write = None
        body = write.applied_to(stored) if write else stored
        run = kube.run_view(body)
        observed = kube.children([indexes[n] for n in INDEXES if n != "thymeruns"], *key)
        # None: the operator cannot read the store; the planner asks the manifest probe Job.
        plan = planner.plan(run, observed, None, dt.datetime.now(dt.timezone.utc), memo.policy)
        version = await kube.apply(memo.kube, body, plan)
        if version is not None:
            write = kube.StatusWrite.made(stored, write, version, kube.merge_patch(body.get("status") or {}, plan.status))
        if write is not None:
            memo.written[key] = write
        if plan.requeue_after is not None:
            _requeue(key, plan.requeue_after, memo, indexes)
        memo.phases[key] = plan.status.get("phase", "Pending")
        metrics.record_phases(memo.phases)
        metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)


def _requeue(key: tuple[str, str], delay: float, memo: kopf.Memo, indexes: dict[str, Any]) -> None:
    """Reconcile again after `delay` (a backoff expiring), with the run's newest body."""
    pending = memo.requeues.get(key)
    if pending is not None and not pending.done():
        return                                    # one wake-up per run is enough

    async def later() -> None:
        await asyncio.sleep(delay)
        memo.requeues.pop(key, None)
        await reconcile(key, memo, indexes)

    memo.requeues[key] = asyncio.create_task(later())   # the dict keeps the task alive


async def _resync_forever(memo: kopf.Memo, indexes: dict[str, Any]) -> None:
    log = logging.getLogger(__name__)
    while True:
        await asyncio.sleep(RESYNC_SECONDS)
        # Snapshot before awaiting: the index changes under us as runs are patched.
        for key in list(indexes["thymeruns"]):
            try:
                await reconcile(key, memo, indexes)
            except Exception:       # one broken run must not stop the others' resync
                log.exception("resync of %s/%s failed", *key)
