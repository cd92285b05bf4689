"""The local executor: a ThymeRun's stages as processes on this machine.

DESIGN.md's rule is one planner, two executors. The operator turns the planner's
children into Kubernetes objects; this module turns the same children into local
things, so stage order, retries with backoff, skip-if-committed and resume are decided
in exactly one place (`thyme_operator.planner`):

| child the planner asks for | what runs here |
| --- | --- |
| Job (any stage) | `thyme <stage>` as a subprocess with the Job's `THYME_STAGE_CONFIG`; its output is shown and logged line by line as it runs (`stage_output`) |
| sandbox Deployment | one local `thyme sandbox serve` (runsc workers), its URL given to RL or eval |
| rollout Deployment (vLLM) | nothing: on CPU the RL trainer generates in-process |
| judge Deployment | refused: serving a judge model needs GPUs; give `judge.endpoint` |
| tool Deployment (`spec.tools`) | one local `thyme tools serve` per tool, on a free port, waited for until ready |
| tools front Deployment | one local `thyme tools front` over those workers |
| Service, NetworkPolicy | nothing (everything is on loopback) |

Stage programs find the tools through `THYME_TOOLS_FRONT_URL` (the front) and
`THYME_TOOLS_ADDRESSES` (JSON: tool name -> worker URL) in their environment.

Storage: with a local store (the default), every `s3://bucket/key` in a stage config
names `<store>/bucket/key`, so the layout of artifacts is the cluster's, byte for
byte. With `--store s3` the URIs stay as they are and the stage programs talk to the
endpoint in the spec with credentials from the environment.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from thyme_cli import stage_display, stage_output
from thyme_operator import api, exits, names, planner, stage_configs
from thyme_operator.builders import pods

LOCAL_NAMESPACE = "local"


class LocalRunError(RuntimeError):
    """The run cannot proceed locally; the message says what to change."""


@dataclass
class UriMap:
    """Maps s3:// URIs into a local store directory (`s3://b/k` -> `<root>/b/k`)."""

    root: Path | None  # None: leave URIs alone (artifacts in real S3)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("s3://") and self.root is not None:
            return str(self.root / value.removeprefix("s3://"))
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value


@dataclass
class LocalExecutor:
    """Carries out plans for one run; `run()` loops plan -> act until a terminal phase."""

    run_obj: api.ThymeRun
    uris: UriMap
    log_dir: Path
    on_event: Callable[[planner.Event], None] = lambda e: None
    on_status: Callable[[api.ThymeRunStatus], None] = lambda s: None
    sandbox_pool_size: int = 2
    console: Console = field(default_factory=lambda: Console(stderr=True))
    env: dict[str, str] = field(default_factory=dict)
    observed: dict[tuple[str, str], planner.ObservedChild] = field(default_factory=dict)
    _sandbox: tuple[subprocess.Popen, str] | None = None
    _tools: dict[str, tuple[subprocess.Popen, str]] = field(default_factory=dict)  # Deployment name -> (process, URL)
    _tool_names: dict[str, str] = field(default_factory=dict)  # Deployment name -> tool name

    @property
    def name(self) -> str:
        return self.run_obj.metadata["name"]

    @property
    def spec(self) -> api.ThymeRunSpec:
        return self.run_obj.spec

    def run_root(self) -> str:
        """Where this run's artifacts are (a local path, or s3:// with --store s3)."""
        return self.uris(stage_configs.run_root(self.spec, LOCAL_NAMESPACE, self.name))

    def committed_stages(self) -> frozenset[str]:
        from thyme_jobs import store

        root = store.open_store(self.run_root())
        return frozenset(s for s in self.spec.stage_names() if root.exists(stage_configs.manifest_key(s)))

    def run(self) -> api.ThymeRunStatus:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        status = api.ThymeRunStatus()
        try:
            while True:
                view = planner.RunView(self.name, LOCAL_NAMESPACE, "local", 1, self.spec, status)
                plan = planner.plan(view, list(self.observed.values()), self.committed_stages(),
                                    dt.datetime.now(dt.timezone.utc))
                status = api.ThymeRunStatus.model_validate(plan.status)
                for event in plan.events:
                    self.on_event(event)
                self.on_status(status)
                for kind, child in plan.delete:
                    self._delete(kind, child)
                for child in plan.create:
                    self._create(child)
                if status.phase in ("Succeeded", "Failed"):
                    return status
                if not plan.create:
                    time.sleep(min(plan.requeue_after or 0.2, 30.0))
        finally:
            self._stop_sandbox()
            for name in list(self._tools):
                self._stop_tool(name)

    # -- children ---------------------------------------------------------------------

    def _create(self, child: dict[str, Any]) -> None:
        kind, meta = child["kind"], child["metadata"]
        labels = meta.get("labels", {})
        if kind == "Job":
            self._run_job(child, labels[names.LABEL_STAGE], int(labels[names.LABEL_ATTEMPT]))
            return
        component = labels.get(names.LABEL_COMPONENT)
        if kind == "Deployment" and component == "sandbox":
            self._start_sandbox(labels.get(names.LABEL_STAGE, "rl"))
        elif kind == "Deployment" and component in ("tool", "tools-front"):
            self._start_tool(child, component)
        elif kind == "Deployment" and component == "judge":
            raise LocalRunError("spec.stages.rl.judge.model asks for a served judge model, which needs GPUs; "
                                "for a local run give spec.stages.rl.judge.endpoint (an OpenAI-compatible URL)")
        self.observed[(kind, meta["name"])] = planner.ObservedChild(kind, meta["name"], labels.get(names.LABEL_STAGE))

    def _delete(self, kind: str, name: str) -> None:
        child = self.observed.pop((kind, name), None)
        sandboxes = {names.stage_part(self.name, stage, "sandbox") for stage in ("rl", "eval")}
        if child is not None and kind == "Deployment" and name in sandboxes:
            self._stop_sandbox()
        if kind == "Deployment" and name in self._tools:
            self._stop_tool(name)

    def _run_job(self, job: dict[str, Any], stage: str, attempt: int) -> None:
        """Run the stage program to completion and record the Job's outcome.

        Its output (stdout and stderr, in the order written) goes whole to the stage's log
        file and, filtered, to the console (`stage_output`). An exit with
        `exits.USAGE_ERROR` is recorded as not retryable, as the Job's podFailurePolicy
        makes it in a cluster."""
        container = job["spec"]["template"]["spec"]["containers"][0]
        config = self.uris(json.loads(_env_value(container, pods.ENV_CONFIG)))
        if stage in ("rl", "eval") and self._sandbox is not None:
            config["sandbox_url"] = self._sandbox[1]
        if stage == "rl" and "tools_url" in config and "THYME_TOOLS_FRONT_URL" in self.tool_env():
            config["tools_url"] = self.tool_env()["THYME_TOOLS_FRONT_URL"]
        env = {**os.environ, **self.env, pods.ENV_CONFIG: json.dumps(config), "THYME_ATTEMPT": str(attempt),
               "PYTHONUNBUFFERED": "1", **self.tool_env()}  # lines as they are written, not a block at exit
        env.pop("THYME_ROLLOUT_URL", None)
        if self.uris.root is None and self.spec.storage.endpoint:
            scheme = "https" if self.spec.storage.secure else "http"
            env.setdefault("THYME_S3_ENDPOINT", f"{scheme}://{self.spec.storage.endpoint}")
        log = self.log_dir / f"{job['metadata']['name']}.log"
        argv = [sys.executable, "-m", "thyme_cli.main", stage]
        display = stage_display.StageDisplay(self.console, stage)
        failed = True
        try:
            done = stage_output.run_streaming(argv, env, log, display.feed)
            failed = done.returncode != 0
        finally:
            display.close(failed, log)      # the log's tail on the console when it failed
        finished = planner.timestamp(dt.datetime.now(dt.timezone.utc))
        state = "Succeeded" if done.returncode == 0 else "Failed"
        message = "" if state == "Succeeded" else _failure_message(done.returncode, done.tail, log)
        self.observed[("Job", job["metadata"]["name"])] = planner.ObservedChild(
            "Job", job["metadata"]["name"], stage, attempt, state, finished, message,
            retryable=done.returncode != exits.USAGE_ERROR)

    def _start_sandbox(self, stage: str = "rl") -> None:
        if self._sandbox is not None:
            return
        from thyme_operator import sandbox_capacity
        from thyme_sandbox import serving

        port = _free_port()
        sandbox = getattr(self.spec.stages, stage).sandbox
        # One local server stands for every replica: it holds the sessions they would
        # (the RL config's sandbox_max_sessions), with the same per-session limits.
        room = sandbox_capacity.capacity(sandbox.memory, sandbox.cpu)
        workers = min(1024, sandbox.replicas * room.workers)
        args = ["--host", "127.0.0.1", "--port", str(port), "--pool-size", str(self.sandbox_pool_size),
                "--call-timeout", str(sandbox.timeout_seconds), "--max-workers", str(workers),
                "--memory-bytes", str(room.worker_memory_bytes), "--scratch-bytes", str(room.scratch_bytes)]
        self._sandbox = serving.spawn(args, self.log_dir / "sandbox.log")

    def tool_env(self) -> dict[str, str]:
        """How stage programs find the local tools (empty without spec.tools)."""
        workers = {self._tool_names[n]: url for n, (_, url) in self._tools.items() if n in self._tool_names}
        env = {"THYME_TOOLS_ADDRESSES": json.dumps(workers, sort_keys=True)} if workers else {}
        front = self._tools.get(names.tools_front(self.name))
        if front is not None:
            env["THYME_TOOLS_FRONT_URL"] = front[1]
        return env

    def _start_tool(self, deployment: dict[str, Any], component: str) -> None:
        """The Deployment's container as a local process, with its THYME_TOOLS_* settings and a free port."""
        from thyme_tools import serving

        name = deployment["metadata"]["name"]
        if name in self._tools:
            return
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: self.uris(e["value"]) for e in container.get("env", [])
               if e["name"].startswith("THYME_TOOLS_") and "value" in e}
        env.pop("THYME_TOOLS_MODEL_CACHE", None)  # the pod's volume path; locally the default temp dir
        if component == "tools-front":
            env["THYME_TOOLS_WORKERS"] = ",".join(f"{self._tool_names[n]}={url}" for n, (_, url) in self._tools.items()
                                                  if n in self._tool_names)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        action = "front" if component == "tools-front" else "serve"
        proc = serving.spawn(action, ["--host", "127.0.0.1", "--port", str(port)], self.log_dir / f"{name}.log",
                             env={**self.env, **env})
        self._tools[name] = (proc, url)
        if component == "tool":
            self._tool_names[name] = env["THYME_TOOLS_TOOL"]
        try:
            serving.wait_ready(url, timeout=300, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            self._stop_tool(name)
            raise LocalRunError(f"tool server {name} did not become ready: {exc} (log: {self.log_dir / name}.log)") from None

    def _stop_tool(self, name: str) -> None:
        proc, _ = self._tools.pop(name)
        self._tool_names.pop(name, None)
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _stop_sandbox(self) -> None:
        if self._sandbox is None:
            return
        proc, _ = self._sandbox
        self._sandbox = None
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _env_value(container: dict[str, Any], name: str) -> str:
    for item in container.get("env", []):
        if item["name"] == name and "value" in item:
            return item["value"]
    raise LocalRunError(f"container {container['name']!r} has no {name} value")


def _failure_message(code: int, tail: list[str], log: Path) -> str:
    """The last line the program printed: its error, named (`thyme_jobs.failures`), or a traceback's last line."""
    return f"exit code {code}: {exits.last_line(tail[-1] if tail else '') or 'no output'} (log: {log})"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_run(path: str | os.PathLike) -> api.ThymeRun:
    """Read a ThymeRun manifest and check it as the API server would: the schema's
    bounds and the CRD's cross-field rules (`api.Rule`, one definition for both);
    validation errors name the field."""
    import yaml
    from pydantic import ValidationError

    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LocalRunError(f"cannot read {path}: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("kind") != "ThymeRun":
        raise LocalRunError(f"{path}: expected a ThymeRun manifest (kind: ThymeRun)")
    try:
        run = api.ThymeRun.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise LocalRunError(f"{path}: invalid ThymeRun: {problems}") from None
    # The CRD's cross-field rules (api.Rule) ran inside model_validate, as the API server runs them.
    return run

