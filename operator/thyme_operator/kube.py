"""The only module that talks to the Kubernetes API.

It reads objects into the planner's plain types (`observe`, `run_view`) and writes a
plan back (`apply`): create children in order, delete what the plan drops, patch the
status once, post events. Creation is idempotent by construction: names are
deterministic, so 409 AlreadyExists means an earlier pass (or an earlier operator
process) already did it. The synchronous official client runs in worker threads so
the kopf event loop never blocks; one client is built at startup and handed around
through kopf's memo.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import functools
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import kopf
import kubernetes
from kubernetes.client.rest import ApiException

from thyme_operator import api, exits, metrics, names, planner

log = logging.getLogger(__name__)

USER_AGENT = "thyme-operator/0.1"


@dataclass
class Client:
    """One ApiClient with a connection pool wide enough for kopf's concurrent workers."""

    api_client: kubernetes.client.ApiClient
    # Own threads for blocking calls: asyncio's default pool has cpu+4 threads, which
    # serialises creates when hundreds of runs start at once.
    executor: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(32, thread_name_prefix="thyme-kube"))

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(fn, *args))

    @classmethod
    def from_environment(cls, pool_size: int = 32) -> "Client":
        configuration = kubernetes.client.Configuration()
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config(client_configuration=configuration)
        configuration.connection_pool_maxsize = pool_size
        client = kubernetes.client.ApiClient(configuration)
        client.user_agent = USER_AGENT      # tells our requests apart in audit logs
        return cls(client)

    def __post_init__(self) -> None:
        # Built once, here, at startup: the client imports each API module on first use
        # and wraps every method in pydantic's validate_call, about 0.7 s of CPU for the
        # five we use (more on a busy machine). Done lazily, the first create paid it,
        # with every thread of the pool waiting on the import lock behind it, and the
        # first runs of a burst got their first child seconds late.
        self.batch = kubernetes.client.BatchV1Api(self.api_client)
        self.core = kubernetes.client.CoreV1Api(self.api_client)
        self.apps = kubernetes.client.AppsV1Api(self.api_client)
        self.networking = kubernetes.client.NetworkingV1Api(self.api_client)
        self.custom = kubernetes.client.CustomObjectsApi(self.api_client)
        self._creators: dict[str, Callable[..., Any]] = {
            "Job": self.batch.create_namespaced_job, "Service": self.core.create_namespaced_service,
            "Deployment": self.apps.create_namespaced_deployment,
            "NetworkPolicy": self.networking.create_namespaced_network_policy}
        self._deleters: dict[str, Callable[..., Any]] = {
            "Job": self.batch.delete_namespaced_job, "Service": self.core.delete_namespaced_service,
            "Deployment": self.apps.delete_namespaced_deployment,
            "NetworkPolicy": self.networking.delete_namespaced_network_policy}

    def create(self, manifest: dict[str, Any]) -> bool:
        """Create a child; False when it already exists."""
        kind, namespace = manifest["kind"], manifest["metadata"]["namespace"]
        metrics.API_REQUESTS.labels(verb="create", kind=kind).inc()
        try:
            # The response is not needed: skip turning it into client models (CPU-heavy).
            _drain(self._creators[kind](namespace, manifest, _preload_content=False))
        except ApiException as exc:
            if exc.status == 409:
                return False
            metrics.CHILD_CREATE_ERRORS.labels(kind=kind).inc()
            raise
        return True

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete a child and, in the background, what it owns (a Job's pods)."""
        metrics.API_REQUESTS.labels(verb="delete", kind=kind).inc()
        body = kubernetes.client.V1DeleteOptions(propagation_policy="Background")
        try:
            _drain(self._deleters[kind](name, namespace, body=body, _preload_content=False))
        except ApiException as exc:
            if exc.status != 404:
                raise

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> str:
        """Merge-patch the run's status; the resourceVersion the patch produced."""
        metrics.API_REQUESTS.labels(verb="patch", kind=api.KIND).inc()
        raw = _drain(self.custom.patch_namespaced_custom_object_status(
            api.GROUP, api.VERSION, namespace, api.PLURAL, name, {"status": status}, _preload_content=False))
        return str(json.loads(raw)["metadata"]["resourceVersion"])


def _drain(response: Any) -> bytes:
    """Read a raw response to its end so its connection goes back to the pool."""
    data = response.read()
    response.release_conn()
    return data


# ----------------------------------------------------------------------------- reading


def observe(body: Mapping[str, Any]) -> planner.ObservedChild:
    """A child object as the planner sees it."""
    meta = body.get("metadata", {})
    labels = meta.get("labels") or {}
    kind = body.get("kind") or ""
    attempt = labels.get(names.LABEL_ATTEMPT)
    state: planner.JobState | None = None
    finished_at, message, retryable = None, "", True
    suspended, started_at, ran, completed = False, None, False, ""
    if kind == "Job":
        state = "Active"
        status = body.get("status") or {}
        for cond in status.get("conditions") or []:
            if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
                state = "Succeeded" if cond["type"] == "Complete" else "Failed"
                finished_at = cond.get("lastTransitionTime")
                message = " ".join(x for x in (cond.get("reason"), cond.get("message")) if x)
                retryable = not (state == "Failed" and cond.get("reason") == exits.JOB_FAILED_BY_POLICY)
        suspended = bool((body.get("spec") or {}).get("suspend"))
        # The Job controller resets startTime when Kueue unsuspends a Job: the pending
        # clock then counts from admission, not from creation.
        started_at = status.get("startTime") or meta.get("creationTimestamp")
        ran = any(int(status.get(k) or 0) > 0 for k in ("ready", "succeeded", "failed"))
        completed = str(status.get("completedIndexes") or "")
    return planner.ObservedChild(
        kind=kind, name=meta.get("name", ""), stage=labels.get(names.LABEL_STAGE),
        attempt=int(attempt) if attempt and attempt.isdigit() else None, state=state,
        finished_at=finished_at, message=message, deleting=bool(meta.get("deletionTimestamp")),
        suspended=suspended, started_at=started_at, ran=ran, completed_indexes=completed, retryable=retryable)


@dataclass(frozen=True)
class PodFailure:
    """A Job pod's finished container: its exit code and the last line of its termination message.

    Mostly a failure's reason; a container that exited 0 and wrote a message (the eval
    stage's headline numbers) is kept too, so the stage's status can quote it."""

    job: str
    exit_code: int
    message: str


JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def pod_failure(body: Mapping[str, Any]) -> PodFailure | None:
    """What a failed container of a Job's pod said, else what a succeeded one wrote; None
    while no container ended with something to say.

    The kubelet fills `terminated.message` from the file the program wrote
    (`thyme_jobs.failures`) or, with FallbackToLogsOnError, from the log's tail; its
    last line is the program's own error line in either case."""
    labels = (body.get("metadata") or {}).get("labels") or {}
    job = next((labels[k] for k in JOB_NAME_LABELS if labels.get(k)), None)
    for container in (body.get("status") or {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        code = terminated.get("exitCode")
        if job and code not in (None, 0):
            return PodFailure(job, int(code), exits.last_line(terminated.get("message") or ""))
    for container in (body.get("status") or {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        said = exits.last_line(terminated.get("message") or "")
        if job and terminated.get("exitCode") == 0 and said:
            return PodFailure(job, 0, said)
    return None


def explain_failures(observed: list[planner.ObservedChild], failures: list[PodFailure | None]) -> list[planner.ObservedChild]:
    """Failed Jobs with their pod's own words: the Job's condition says only that a pod
    failed; the pod's termination message says why (the missing dataset, the bad field).
    Succeeded Jobs carry a succeeded pod's closing line as their `result`."""
    said = {f.job: f for f in failures if f is not None and f.message and f.exit_code != 0}
    results = {f.job: f.message for f in failures if f is not None and f.message and f.exit_code == 0}
    out = []
    for child in observed:
        failure = said.get(child.name) if child.kind == "Job" and child.state == "Failed" else None
        if failure is not None:
            child = dataclasses.replace(child, message=f"exit code {failure.exit_code}: {failure.message}")
        elif child.kind == "Job" and child.state == "Succeeded" and results.get(child.name):
            child = dataclasses.replace(child, result=results[child.name])
        out.append(child)
    return out


def run_view(body: Mapping[str, Any]) -> planner.RunView:
    """Parse a ThymeRun body; the API server already validated it against the schema."""
    meta = body["metadata"]
    spec = api.ThymeRunSpec.model_validate(dict(body.get("spec") or {}))
    status = api.ThymeRunStatus.model_validate(_known_status(body.get("status") or {}))
    return planner.RunView(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"],
                           generation=int(meta.get("generation") or 0), spec=spec, status=status)


def _known_status(status: Mapping[str, Any]) -> dict[str, Any]:
    """Only our own fields: kopf or a newer operator may have left others."""
    fields = set(api.ThymeRunStatus.model_fields) | {f.alias for f in api.ThymeRunStatus.model_fields.values() if f.alias}
    return {k: v for k, v in status.items() if k in fields}


def children(indexes: list[Mapping[Any, Any]], namespace: str, run: str) -> list[planner.ObservedChild]:
    """The run's children from kopf indexes keyed by (namespace, run)."""
    out: list[planner.ObservedChild] = []
    for index in indexes:
        out.extend(index.get((namespace, run), ()))
    return out


# ----------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class StatusWrite:
    """Our newest status patch of a run, for as long as the watch has not delivered it.

    The run bodies we plan from come from kopf's index, which the watch feeds; our own
    status patch reaches it tens of milliseconds later, seconds during a burst. A reconcile
    in between (a child Job's event, the requeue, the resync) planned from the old status:
    it saw the same transition again, patched the same status a second time and posted the
    same event twice, about three requests per run. While the index still shows a version
    older than our newest patch, the run is planned from what we wrote instead.
    """

    older: frozenset[str]       # resourceVersions that predate it: the one planned from, our earlier patches
    resource_version: str       # what the patch produced
    status: dict[str, Any]      # the run's status after the patch

    @classmethod
    def made(cls, stored: Mapping[str, Any], previous: "StatusWrite | None", resource_version: str,
             status: dict[str, Any]) -> "StatusWrite":
        """The write just made, planned from `stored` (the index's body) and `previous`."""
        older = previous.older | {previous.resource_version} if previous else frozenset({_version(stored)})
        return cls(older, resource_version, status)

    def newer_than(self, stored: Mapping[str, Any]) -> bool:
        """False once the index shows this patch, or any version we did not plan from (a
        change from someone else, which may carry a status we must not hide)."""
        return _version(stored) in self.older

    def applied_to(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        return {**stored, "status": self.status}


def _version(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion") or "")


def merge_patch(target: Any, patch: Any) -> Any:
    """`patch` applied to `target` as a JSON merge patch (RFC 7386) would be."""
    if not isinstance(patch, Mapping):
        return patch
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def is_refusal(exc: ApiException) -> bool:
    """A definite no from the API server (quota, PodSecurity, a webhook, an invalid
    object, RBAC): retrying the same request will not help, the user must act."""
    return isinstance(exc.status, int) and 400 <= exc.status < 500 and exc.status not in (409, 429)


def api_message(exc: ApiException) -> str:
    """The API server's own sentence from a Status body, else the HTTP reason."""
    try:
        body = json.loads(exc.body or b"{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or f"{exc.status} {exc.reason}")


def changes_status(body: Mapping[str, Any], plan: planner.Plan) -> bool:
    """Whether the plan's status differs from the body's: only then is it patched."""
    current = body.get("status") or {}
    return any(current.get(k) != v for k, v in plan.status.items())


async def apply(client: Client, body: Mapping[str, Any], plan: planner.Plan) -> str | None:
    """Write a plan: creates in order, then deletes, then one status patch, then events.
    Returns the resourceVersion of the status patch, None when there was none."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    refused: list[planner.Refusal] = []
    for manifest in plan.create:
        try:
            created = await client.call(client.create, manifest)
        except ApiException as exc:
            if not is_refusal(exc):
                raise                   # 5xx, 429: transient; kopf retries the handler
            child = manifest["metadata"]
            refused.append(planner.Refusal(manifest["kind"], child["name"],
                                           (child.get("labels") or {}).get(names.LABEL_STAGE), api_message(exc)))
            log.warning("%s %s/%s refused: %s", manifest["kind"], namespace, child["name"], refused[-1].message)
            break                       # later children need this one (the Job needs its Services)
        if created:
            log.info("created %s %s/%s", manifest["kind"], namespace, manifest["metadata"]["name"])
    plan = planner.record_refusals(plan, refused, int(meta.get("generation") or 0),
                                   dt.datetime.now(dt.timezone.utc))
    for kind, child in plan.delete:
        await client.call(client.delete, kind, namespace, child)
        log.info("deleted %s %s/%s", kind, namespace, child)
    written = None
    if changes_status(body, plan):
        try:
            written = await client.call(client.patch_status, namespace, name, plan.status)
        except ApiException as exc:
            if exc.status != 404:       # deleted meanwhile: nothing left to report on
                raise
    for event in plan.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message[:1024])
    return written
