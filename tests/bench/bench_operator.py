"""Operator benchmark: many fake GPU nodes, many ThymeRuns applied at once.

    VENV=$(bash tests/env/python-env.sh)
    $VENV/bin/python tests/bench/bench_operator.py --nodes 1000 --runs 200

Starts a real control plane with kwok nodes (8 fake GPUs each) and the API server's
audit log on, runs `thyme operator` as a subprocess, creates all runs in one kubectl
call, and reports:
- time from the apply until every run is Succeeded,
- apply-to-first-child latency per run (p50, p99): from the moment a watch sees the
  ThymeRun to the moment it sees the run's first Job (both seen by the same client),
- the operator's peak RSS (psutil, sampled every 0.2 s),
- API requests per run sent by the operator (kopf's and ours), counted from the audit
  log by user agent, so nothing the operator does is missed or double-counted.
Targets (issue 5): p99 apply-to-first-child <= 2 s, RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

import psutil  # noqa: E402
import yaml  # noqa: E402

from testenv.kwok_cluster import RUN_MS_ANNOTATION, KwokCluster  # noqa: E402
from thyme_operator import crd  # noqa: E402

AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  resources: [{group: "coordination.k8s.io", resources: ["leases"]}]
- level: None
  nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/metrics", "/version", "/openapi*", "/api*"]
- level: Metadata
"""


class AuditedCluster(KwokCluster):
    """The test cluster with the API server's audit log switched on."""

    audit_policy: Path | None = None

    def kwokctl(self, *args: str, timeout: float = 300) -> str:
        if args[:2] == ("create", "cluster") and self.audit_policy:
            args = (*args, "--kube-audit-policy", str(self.audit_policy))
        return super().kwokctl(*args, timeout=timeout)

    def audit_log(self) -> Path:
        found = sorted((self.workdir / "clusters" / self.name).rglob("audit*.log"))
        if not found:
            raise RuntimeError(f"no audit log under {self.workdir}")
        return found[0]


def run_manifest(i: int, namespace: str, stages: str) -> dict:
    spec_stages = {
        "convert": {"shards": 2, "resources": {"cpu": "1", "memory": "1Gi"}},
        "sft": {"phases": [{"splits": ["general"]}], "nodes": 1, "gpusPerNode": 8,
                "resources": {"cpu": "8", "memory": "64Gi"}},
        "rl": {"splits": ["general"], "judge": {"endpoint": "http://judge.example:8000/v1"}, "gpus": 4,
               "rollout": {"replicas": 1, "gpusPerReplica": 1}, "sandbox": {"replicas": 1},
               "resources": {"cpu": "8", "memory": "64Gi"}},
    }
    wanted = ["convert", "sft", "rl"] if stages == "all" else stages.split(",")
    return {"apiVersion": "thyme.dev/v1alpha1", "kind": "ThymeRun",
            "metadata": {"name": f"bench-{i:04d}", "namespace": namespace},
            "spec": {"storage": {"endpoint": "127.0.0.1:9000", "bucket": "thyme", "secretRef": {"name": "s3-creds"},
                                 "secure": False},
                     "dataset": {"source": "s3://datasets/Thyme-SFT", "splits": ["general"]},
                     "model": {"base": "s3://models/tiny"},
                     "stages": {s: spec_stages[s] for s in wanted},
                     "podMetadata": {"annotations": {RUN_MS_ANNOTATION: "1000"}}}}


def watch_first_seen(kubeconfig: Path, namespace: str, runs_seen: dict, first_child: dict, stop: threading.Event) -> list:
    """Two watch threads recording when ThymeRuns and their first Jobs appear."""
    import kubernetes

    client = kubernetes.config.new_client_from_config(str(kubeconfig))
    client.user_agent = "thyme-bench"
    threads = []

    def runs() -> None:
        api = kubernetes.client.CustomObjectsApi(client)
        w = kubernetes.watch.Watch()
        while not stop.is_set():
            try:
                for ev in w.stream(api.list_namespaced_custom_object, "thyme.dev", "v1alpha1", namespace, "thymeruns",
                                   timeout_seconds=5):
                    runs_seen.setdefault(ev["object"]["metadata"]["name"], time.monotonic())
            except Exception:        # a busy API server may answer 504 or cut the stream: re-watch
                w = kubernetes.watch.Watch()

    def jobs() -> None:
        api = kubernetes.client.BatchV1Api(client)
        w = kubernetes.watch.Watch()
        while not stop.is_set():
            try:
                for ev in w.stream(api.list_namespaced_job, namespace, label_selector="thyme.dev/run", timeout_seconds=5):
                    run = ev["object"].metadata.labels["thyme.dev/run"]
                    first_child.setdefault(run, time.monotonic())
            except Exception:
                w = kubernetes.watch.Watch()

    for fn in (runs, jobs):
        t = threading.Thread(target=fn, daemon=True)
        t.start()
        threads.append(t)
    return threads


def sample_rss(pid: int, peak: list, stop: threading.Event) -> None:
    proc = psutil.Process(pid)
    while not stop.is_set():
        try:
            peak[0] = max(peak[0], proc.memory_info().rss)
        except psutil.Error:
            return
        time.sleep(0.2)


def count_operator_requests(audit: Path) -> collections.Counter:
    """Requests whose user agent is kopf's or our client's, one per auditID."""
    seen: set[str] = set()
    counts: collections.Counter = collections.Counter()
    with audit.open() as fh:
        for line in fh:
            ev = json.loads(line)
            agent = ev.get("userAgent", "")
            if not (agent.startswith("kopf") or agent.startswith("thyme-operator")):
                continue
            if ev["auditID"] in seen:
                continue
            seen.add(ev["auditID"])
            ref = ev.get("objectRef", {})
            resource = ref.get("resource", "?") + ("/" + ref["subresource"] if ref.get("subresource") else "")
            counts[(ev["verb"], resource)] += 1
    return counts


def wait_live(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """kopf answers its liveness probe once started (indexes listed, watches open)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"operator exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("operator did not become live")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--stages", default="all", help="'all' or a comma list, e.g. convert,sft")
    parser.add_argument("--timeout", type=float, default=1200, help="give up waiting for Succeeded after this")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="thyme-bench-"))
    cluster = AuditedCluster(workdir=work)
    cluster.audit_policy = work / "audit-policy.yaml"
    cluster.audit_policy.write_text(AUDIT_POLICY)
    operator = None
    stop = threading.Event()
    try:
        t = time.monotonic()
        cluster.create(nodes=0 if args.nodes == 0 else min(args.nodes, 1))
        for start in range(1, args.nodes, 250):
            cluster.add_nodes([f"gpu-node-{i}" for i in range(start, min(start + 250, args.nodes))])
        print(f"cluster with {args.nodes} nodes up in {time.monotonic() - t:.0f}s", flush=True)
        cluster.kubectl("apply", "--server-side", "-f", "-", input=crd.render())
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/thymeruns.thyme.dev")
        ns = "bench"
        cluster.kubectl("create", "namespace", ns)
        cluster.kubectl("create", "secret", "generic", "s3-creds", "-n", ns,
                        "--from-literal=AWS_ACCESS_KEY_ID=x", "--from-literal=AWS_SECRET_ACCESS_KEY=y")
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(
            {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "gvisor"}, "handler": "runsc"}))

        log = (work / "operator.log").open("w")
        operator = subprocess.Popen([sys.executable, "-m", "thyme_cli.main", "operator", "--liveness",
                                     "http://127.0.0.1:18099/healthz"], stdout=log,
                                    stderr=subprocess.STDOUT, env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)})
        log.close()
        wait_live("http://127.0.0.1:18099/healthz", operator)
        peak = [0]
        threading.Thread(target=sample_rss, args=(operator.pid, peak, stop), daemon=True).start()
        runs_seen: dict[str, float] = {}
        first_child: dict[str, float] = {}
        watch_first_seen(cluster.kubeconfig, ns, runs_seen, first_child, stop)
        time.sleep(2)
        audit_before = sum(count_operator_requests(cluster.audit_log()).values())

        manifests = {"apiVersion": "v1", "kind": "List", "items": [run_manifest(i, ns, args.stages) for i in range(args.runs)]}
        applied = time.monotonic()
        cluster.kubectl("create", "-f", "-", input=json.dumps(manifests), timeout=600)
        print(f"applied {args.runs} runs in {time.monotonic() - applied:.1f}s", flush=True)

        phases: collections.Counter = collections.Counter()
        done_at = None
        while time.monotonic() - applied < args.timeout:
            items = cluster.get_json("thymeruns", "-n", ns)["items"]
            phases = collections.Counter(i.get("status", {}).get("phase", "None") for i in items)
            if phases.get("Succeeded", 0) == args.runs:
                done_at = time.monotonic()
                break
            if phases.get("Failed"):
                break
            time.sleep(2)
        print(f"phases: {dict(phases)}", flush=True)
        time.sleep(1)
        audit = count_operator_requests(cluster.audit_log())
        latencies = [first_child[r] - runs_seen[r] for r in runs_seen if r in first_child]
        result = {
            "nodes": args.nodes, "runs": args.runs, "stages": args.stages,
            "all_succeeded_seconds": None if done_at is None else round(done_at - applied, 1),
            "phases": dict(phases),
            "apply_to_first_child_p50_s": round(percentile(latencies, 0.50), 3) if latencies else None,
            "apply_to_first_child_p99_s": round(percentile(latencies, 0.99), 3) if latencies else None,
            "apply_to_first_child_max_s": round(max(latencies), 3) if latencies else None,
            "runs_with_first_child": len(latencies),
            "operator_peak_rss_mb": round(peak[0] / 2**20, 1),
            "operator_api_requests_total": sum(audit.values()) - audit_before,
            "operator_api_requests_per_run": round((sum(audit.values()) - audit_before) / args.runs, 1),
            "operator_requests_by_verb_resource": {f"{v} {r}": n for (v, r), n in audit.most_common(15)},
            "cpu_count": os.cpu_count(),
        }
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return 0 if done_at is not None else 1
    finally:
        stop.set()
        if operator and operator.poll() is None:
            operator.terminate()
            try:
                operator.wait(15)
            except subprocess.TimeoutExpired:
                operator.kill()
        cluster.delete()


if __name__ == "__main__":
    sys.exit(main())
