"""Invalid ThymeRuns are refused by the real kube-apiserver at admission, with a message
that names the offending field (schema bounds, enums and CEL rules from the CRD)."""

from __future__ import annotations

import copy
import json
import subprocess
import uuid

import pytest
import yaml

from testenv import binaries
from thyme_cli import local_executor
from thyme_operator import api



def _set(obj: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = obj.setdefault(part, {}) if not part.isdigit() else obj[int(part)]
    if value is _DELETE:
        obj.pop(last)
    elif last.isdigit():
        obj[int(last)] = value
    else:
        obj[last] = value


_DELETE = object()

# (id, edits {path: value}, words the error must contain)
INVALID = [
    ("storage missing", {"spec.storage": _DELETE}, ["spec.storage", "Required"]),
    ("bucket with upper case", {"spec.storage.bucket": "My_Bucket"}, ["spec.storage.bucket"]),
    ("endpoint with scheme", {"spec.storage.endpoint": "https://minio:9000"}, ["spec.storage.endpoint"]),
    ("inline credentials refused", {"spec.storage.accessKey": "AKIA"}, ["spec.storage.accessKey", "unknown field"]),
    ("secretRef without name", {"spec.storage.secretRef": {}}, ["spec.storage.secretRef.name"]),
    ("dataset source not s3", {"spec.dataset.source": "http://example.com/data"}, ["spec.dataset.source"]),
    ("no splits", {"spec.dataset.splits": []}, ["spec.dataset.splits"]),
    ("duplicate splits", {"spec.dataset.splits": ["math", "math"]}, ["spec.dataset.splits", "Duplicate"]),
    ("zero shards", {"spec.stages.convert.shards": 0}, ["spec.stages.convert.shards"]),
    ("too many shards", {"spec.stages.convert.shards": 100000}, ["spec.stages.convert.shards"]),
    ("deepspeed enum", {"spec.stages.sft.deepspeed": "zero4"}, ["spec.stages.sft.deepspeed", "zero2"]),
    ("no sft phases", {"spec.stages.sft.phases": []}, ["spec.stages.sft.phases"]),
    ("negative learning rate", {"spec.stages.sft.phases.0.learningRate": -1}, ["spec.stages.sft.phases[0].learningRate"]),
    ("sft split not in dataset", {"spec.stages.sft.phases.0.splits": ["chart"]},
     ["spec.stages.sft.phases", "spec.dataset.splits"]),
    ("rl split not in dataset", {"spec.stages.rl.splits": ["chart"]}, ["spec.stages.rl.splits", "spec.dataset.splits"]),
    ("judge with both endpoint and model", {"spec.stages.rl.judge.endpoint": "http://judge:8000"},
     ["spec.stages.rl.judge", "exactly one of judge.endpoint and judge.model"]),
    ("judge with neither", {"spec.stages.rl.judge": {}}, ["spec.stages.rl.judge", "exactly one"]),
    ("text temperature too high", {"spec.stages.rl.textTemperature": 3.5}, ["spec.stages.rl.textTemperature"]),
    ("code temperature above text temperature", {"spec.stages.rl.textTemperature": 0.5, "spec.stages.rl.codeTemperature": 0.9},
     ["spec.stages.rl.codeTemperature"]),
    ("all reward weights zero", {"spec.stages.rl.rewards": {"format": 0, "accuracy": 0, "consistency": 0}},
     ["spec.stages.rl.rewards", "reward weight"]),
    ("rl deepspeed enum", {"spec.stages.rl.deepspeed": "zero1"}, ["spec.stages.rl.deepspeed", "zero3"]),
    ("rl batch not a multiple of gpus", {"spec.stages.rl.batchSize": 12, "spec.stages.rl.gpus": 8},
     ["spec.stages.rl.batchSize", "multiple of gpus"]),
    ("bad runtime class name", {"spec.stages.rl.sandbox.runtimeClassName": "GVisor!"}, ["spec.stages.rl.sandbox.runtimeClassName"]),
    ("no stages", {"spec.stages": {}}, ["spec.stages", "at least one stage"]),
    ("retry limit too high", {"spec.stages.convert.retries.limit": 99}, ["spec.stages.convert.retries.limit"]),
    ("backoff cap below backoff", {"spec.stages.convert.retries": {"backoffSeconds": 100, "maxBackoffSeconds": 10}},
     ["spec.stages.convert.retries.maxBackoffSeconds"]),
    ("bad queue name", {"spec.scheduling.queueName": "Team_A"}, ["spec.scheduling.queueName"]),
    ("bad toleration operator", {"spec.scheduling.tolerations": [{"key": "gpu", "operator": "Maybe"}]},
     ["spec.scheduling.tolerations[0].operator"]),
    ("name too long for child names", {"metadata.name": "r" + "x" * 50}, ["metadata.name", "48 characters"]),
    ("name not an RFC 1035 label", {"metadata.name": "9lives"}, ["metadata.name", "RFC 1035"]),
]


def _kubectl_create(cluster, obj: dict) -> subprocess.CompletedProcess:
    argv = [str(binaries.binary("kubectl")), "--kubeconfig", str(cluster.kubeconfig), "create", "-f", "-"]
    return subprocess.run(argv, input=json.dumps(obj), capture_output=True, text=True, timeout=60)


def _local_refusal(obj: dict, tmp_path) -> str | None:
    """What `thyme run` says about the same manifest (None: it would run it)."""
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(obj))
    try:
        local_executor.load_run(path)
    except local_executor.LocalRunError as exc:
        return str(exc)
    return None


ALL_RULES = [r for model in (api.RetryPolicy, api.Rewards, api.JudgeSpec, api.RLStage, api.Stages,
                             api.ThymeRunSpec, api.ThymeRun) for r in model.rules]


@pytest.mark.parametrize("case", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_thymerun_is_rejected_naming_the_field_by_the_cluster_and_by_thyme_run(thyme_crd, thyme, namespace,
                                                                                         case, tmp_path):
    _, edits, words = case
    obj = thyme.run_manifest("bad-" + uuid.uuid4().hex[:6], namespace)
    for path, value in edits.items():
        _set(obj, path, value if value is _DELETE else copy.deepcopy(value))
    done = _kubectl_create(thyme_crd, obj)
    assert done.returncode != 0, f"accepted an invalid ThymeRun: {case[0]}"
    for word in words:
        assert word in done.stderr, f"{word!r} not in: {done.stderr}"
    # One set of rules: what the API server refuses, the local loader refuses, and a
    # cross-field rule the loader reports is one the API server reported too (the API
    # server lists every error at once; pydantic stops at field errors before rules).
    local = _local_refusal(obj, tmp_path)
    assert local is not None, f"thyme run would accept what the cluster refuses: {case[0]}"
    for rule in ALL_RULES:
        if rule.message in local:
            assert rule.message in done.stderr, f"{rule.message!r} only in the local error: {done.stderr}"


@pytest.mark.parametrize("edits", [{}, {"spec.stages.rl.textTemperature": 0.7, "spec.stages.rl.codeTemperature": 0.7},
                                   {"spec.stages": {"rl": {"splits": ["math"], "judge": {"model": "s3://models/judge"}}}},
                                   {"spec.stages.rl.batchSize": 16, "spec.stages.rl.gpus": 8}],
                         ids=["as is", "equal temperatures", "rl only", "batch a multiple of gpus"])
def test_a_thymerun_the_cluster_accepts_thyme_run_accepts(thyme_crd, thyme, namespace, edits, tmp_path):
    obj = thyme.run_manifest("ok-" + uuid.uuid4().hex[:6], namespace)
    for path, value in edits.items():
        _set(obj, path, copy.deepcopy(value))
    done = _kubectl_create(thyme_crd, obj)
    assert done.returncode == 0, done.stderr
    assert _local_refusal(obj, tmp_path) is None


def test_valid_thymerun_is_accepted_with_defaults_filled_in(thyme_crd, thyme, namespace):
    obj = thyme.run_manifest("good", namespace)
    done = _kubectl_create(thyme_crd, obj)
    assert done.returncode == 0, done.stderr
    spec = thyme_crd.get_json("thymerun", "good", "-n", namespace)["spec"]
    assert spec["suspend"] is False
    assert spec["stages"]["rl"]["sandbox"]["runtimeClassName"] == "gvisor"
    assert spec["stages"]["convert"]["workers"] == 4
    assert spec["storage"]["secretRef"]["accessKeyIdKey"] == "AWS_ACCESS_KEY_ID"


@pytest.mark.parametrize("path,value", [("storage", {"endpoint": "other:9000", "bucket": "other", "secretRef": {"name": "s3-creds"}}),
                                        ("stages", {"convert": {"shards": 3}})])
def test_immutable_fields_cannot_change_after_creation(thyme_crd, thyme, namespace, path, value):
    obj = thyme.run_manifest("immutable", namespace)
    assert _kubectl_create(thyme_crd, obj).returncode == 0
    argv = [str(binaries.binary("kubectl")), "--kubeconfig", str(thyme_crd.kubeconfig), "patch", "thymerun", "immutable",
            "-n", namespace, "--type=merge", "-p", json.dumps({"spec": {path: value}})]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"spec.{path}" in done.stderr and "immutable" in done.stderr, done.stderr
