"""Child manifests: env contract with the stage programs, isolation, scheduling."""

from __future__ import annotations

import json

import pytest

from thyme_operator import exits, names
from thyme_operator.builders import meta, stages

from .fixtures import spec

OWNER = meta.Owner("demo", "ml", "uid-1")


def _by_kind(children):
    return {(c["kind"], c["metadata"]["name"]): c for c in children}


def _env(container):
    return {e["name"]: e for e in container["env"]}


def test_convert_job_is_indexed_one_pod_per_shard_with_config_and_secret_refs():
    (job,) = stages.workloads(spec(), OWNER, "convert", 1)
    assert job["metadata"]["name"] == "demo-convert-1"
    assert job["spec"]["completionMode"] == "Indexed" and job["spec"]["completions"] == 4 == job["spec"]["parallelism"]
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["suspend"] is False
    assert job["metadata"]["ownerReferences"][0] | {} == {
        "apiVersion": "thyme.dev/v1alpha1", "kind": "ThymeRun", "name": "demo", "uid": "uid-1",
        "controller": True, "blockOwnerDeletion": True}
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["thyme", "convert"]
    env = _env(container)
    config = json.loads(env["THYME_STAGE_CONFIG"]["value"])
    assert config == {"source": "s3://datasets/Thyme-SFT", "run_root": "s3://thyme/thyme/runs/ml/demo",
                      "splits": ["general", "math"], "num_shards": 4, "workers": 4}
    assert env["THYME_S3_ENDPOINT"]["value"] == "http://minio.thyme.svc:9000"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {"name": "s3-creds", "key": "AWS_ACCESS_KEY_ID"}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "AWS_SECRET_ACCESS_KEY"
    assert "value" not in env["AWS_SECRET_ACCESS_KEY"]
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels[names.LABEL_RUN] == "demo" and labels[names.LABEL_STAGE] == "convert" and labels[names.LABEL_ATTEMPT] == "1"


def test_sft_has_headless_service_and_torchrun_rendezvous_env_and_gpus():
    children = _by_kind(stages.workloads(spec(scheduling={"nodeSelector": {"pool": "h100"},
                                                          "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]}),
                                         OWNER, "sft", 3))
    svc = children[("Service", "demo-sft")]
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True
    job = children[("Job", "demo-sft-3")]
    pod = job["spec"]["template"]["spec"]
    assert pod["subdomain"] == "demo-sft"
    assert pod["nodeSelector"] == {"pool": "h100"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    container = pod["containers"][0]
    env = _env(container)
    assert env["MASTER_ADDR"]["value"] == "demo-sft-3-0.demo-sft"
    assert env["MASTER_PORT"]["value"] == "29500" and env["NNODES"]["value"] == "2" and env["NPROC_PER_NODE"]["value"] == "8"
    assert "job-completion-index" in env["NODE_RANK"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "8" == container["resources"]["limits"]["nvidia.com/gpu"]
    assert container["command"][0] == "torchrun" and container["command"][-1] == "sft"
    assert job["spec"]["completions"] == 2
    # the selector of the headless Service matches the Job's pods
    assert svc["spec"]["selector"].items() <= job["spec"]["template"]["metadata"]["labels"].items()


def test_the_deepeyes_recipe_has_no_sandbox_children():
    deepeyes = spec(stages__rl__recipe="deepeyes", stages__rl__splits=None,
                    rlDataset={"source": "s3://datasets/DeepEyes-Datasets-47k", "layout": "deepeyes"})
    kinds = _by_kind(stages.workloads(deepeyes, OWNER, "rl", 1))
    assert not [key for key in kinds if "sandbox" in key[1]]
    assert any(kind == "Job" for kind, _ in kinds)


def test_rl_sandbox_is_locked_down_and_denied_egress():
    children = _by_kind(stages.workloads(spec(), OWNER, "rl", 1))
    sandbox = children[("Deployment", "demo-rl-sandbox")]["spec"]["template"]["spec"]
    assert sandbox["runtimeClassName"] == "gvisor"
    assert sandbox["automountServiceAccountToken"] is False
    assert sandbox["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    csc = sandbox["containers"][0]["securityContext"]
    assert csc["readOnlyRootFilesystem"] is True and csc["allowPrivilegeEscalation"] is False
    # root of the pod's gVisor kernel, with only what giving each worker its own uid takes
    assert csc["runAsUser"] == 0 and csc["capabilities"]["drop"] == ["ALL"]
    assert csc["capabilities"]["add"] == ["SETUID", "SETGID", "KILL", "CHOWN", "DAC_OVERRIDE", "FOWNER"]
    policy = children[("NetworkPolicy", "demo-rl-sandbox-deny-egress")]["spec"]
    assert policy["egress"] == [] and "Egress" in policy["policyTypes"]
    assert policy["podSelector"]["matchLabels"].items() <= children[("Deployment", "demo-rl-sandbox")]["spec"]["template"]["metadata"]["labels"].items()
    assert ("Deployment", "demo-rl-judge") not in children      # the spec gives an endpoint
    job = children[("Job", "demo-rl-1")]
    config = json.loads(_env(job["spec"]["template"]["spec"]["containers"][0])["THYME_STAGE_CONFIG"]["value"])
    assert config["sandbox_url"] == "http://demo-rl-sandbox.ml.svc:8080"
    assert config["judge"]["endpoint"] == "http://judge.example:8000/v1"
    assert config["model"] == "s3://thyme/thyme/runs/ml/demo/sft/final"
    assert config["deepspeed"] == "zero3"  # the API's default, Thyme's choice for RL
    # one trainer process per GPU of the pod
    trainer = job["spec"]["template"]["spec"]["containers"][0]
    assert trainer["command"][:3] == ["torchrun", "--standalone", "--nproc-per-node=8"]
    assert trainer["command"][-3:] == ["-m", "thyme_cli.main", "rl"]
    assert trainer["resources"]["limits"]["nvidia.com/gpu"] == "8"
    # supporting objects come before the Job that needs them
    assert list(children)[-1] == ("Job", "demo-rl-1")


def test_rl_serves_a_judge_model_when_asked_for_one_instead_of_an_endpoint():
    children = _by_kind(stages.workloads(spec(stages__rl__judge={"model": "s3://models/judge-7b"}), OWNER, "rl", 1))
    judge = children[("Deployment", "demo-rl-judge")]
    assert "s3://models/judge-7b" in judge["spec"]["template"]["spec"]["containers"][0]["command"]
    assert ("Service", "demo-rl-judge") in children
    job = children[("Job", "demo-rl-1")]
    config = json.loads(_env(job["spec"]["template"]["spec"]["containers"][0])["THYME_STAGE_CONFIG"]["value"])
    assert config["judge"]["endpoint"] == "http://demo-rl-judge.ml.svc:8000/v1"


def test_queue_name_labels_jobs_for_kueue_and_creates_them_suspended_priority_passes_through():
    (job,) = stages.workloads(spec(scheduling={"queueName": "team-a", "priorityClassName": "high"}), OWNER, "convert", 1)
    assert job["metadata"]["labels"][names.KUEUE_QUEUE_LABEL] == "team-a"
    assert job["spec"]["suspend"] is True
    assert job["spec"]["template"]["spec"]["priorityClassName"] == "high"


def test_pod_metadata_is_added_but_cannot_override_thyme_labels():
    (job,) = stages.workloads(spec(podMetadata={"labels": {"team": "vision", names.LABEL_RUN: "evil"},
                                                "annotations": {"a": "b"}}), OWNER, "convert", 1)
    meta_ = job["spec"]["template"]["metadata"]
    assert meta_["labels"]["team"] == "vision" and meta_["labels"][names.LABEL_RUN] == "demo"
    assert meta_["annotations"] == {"a": "b"}


def test_sandbox_container_command_and_env_are_understood_by_the_sandbox_cli():
    # The contract is with `thyme sandbox serve`: a renamed flag or setting would only
    # show in a real cluster, so parse what the Deployment runs with the real parser.
    from thyme_cli.main import build_parser
    from thyme_sandbox.settings import SandboxSettings

    children = _by_kind(stages.workloads(spec(), OWNER, "rl", 1))
    container = children[("Deployment", "demo-rl-sandbox")]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][0] == "thyme"
    args = build_parser().parse_args(container["command"][1:])
    assert args.host == "0.0.0.0" and args.launcher == "process"
    assert int(args.port) == container["ports"][0]["containerPort"]
    prefix = "THYME_SANDBOX_"
    settings = {}
    for env in container["env"]:
        if env["name"] == "POD_IP":  # the downward API's, for the replica URL below
            assert env["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
            continue
        assert env["name"].startswith(prefix)
        assert env["name"].removeprefix(prefix).lower() in SandboxSettings.model_fields, env["name"]
        settings[env["name"].removeprefix(prefix).lower()] = env["value"].replace("$(POD_IP)", "10.1.2.3")
    parsed = SandboxSettings.model_validate(settings)  # every value is one the service accepts
    assert parsed.replica_url == "http://10.1.2.3:8080" and parsed.launcher == "runsc"  # the flag sets process


def test_rl_without_a_judge_is_rule_only_and_serves_none():
    from thyme_jobs.rl.config import RLConfig

    rl_spec = spec()
    rl_spec.stages.rl.judge = None
    children = _by_kind(stages.workloads(rl_spec, OWNER, "rl", 1))
    assert not [k for k in children if k[1].endswith("-rl-judge")]
    job = children[("Job", "demo-rl-1")]
    config = json.loads(_env(job["spec"]["template"]["spec"]["containers"][0])["THYME_STAGE_CONFIG"]["value"])
    assert config["judge"] == {"endpoint": None}
    assert RLConfig.model_validate(config).judge.endpoint is None


def test_a_usage_error_exit_fails_the_job_at_once_and_the_pod_reports_its_own_error_line():
    for stage in ("convert", "sft", "rl"):
        job = next(c for c in stages.workloads(spec(), OWNER, stage, 1) if c["kind"] == "Job")
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
        assert job["spec"]["podFailurePolicy"]["rules"] == [
            {"action": "FailJob", "onExitCodes": {"containerName": container["name"], "operator": "In",
                                                  "values": [exits.USAGE_ERROR]}}]
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"  # podFailurePolicy requires it


def test_rl_sandbox_capacity_follows_the_pods_memory_and_cpu():
    children = _by_kind(stages.workloads(spec(stages__rl__sandbox={"memory": "4Gi", "cpu": "2", "replicas": 3,
                                                                    "timeoutSeconds": 90}), OWNER, "rl", 1))
    pod = children[("Deployment", "demo-rl-sandbox")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {k: v.get("value") for k, v in _env(container).items()}
    # (4096 - 512) Mi over 128 Mi + 256 Mi per worker is 9 workers; 2 cores allow 8
    assert env["THYME_SANDBOX_MAX_WORKERS"] == "8" == env["THYME_SANDBOX_POOL_SIZE"]
    assert int(env["THYME_SANDBOX_MEMORY_BYTES"]) == (4096 - 512) * 2**20 // 8 - 128 * 2**20
    assert env["THYME_SANDBOX_CALL_TIMEOUT"] == "90" and env["THYME_SANDBOX_MAX_STARTS"] == "2"
    assert env["THYME_SANDBOX_REPLICA_URL"] == "http://$(POD_IP):8080"
    assert _env(container)["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    # every session's scratch at once fits the emptyDir, which is on disk and requested
    scratch = int(env["THYME_SANDBOX_SCRATCH_BYTES"])
    volume = pod["volumes"][0]["emptyDir"]
    assert "medium" not in volume and volume["sizeLimit"] == container["resources"]["limits"]["ephemeral-storage"]
    assert int(volume["sizeLimit"].removesuffix("Mi")) * 2**20 >= 8 * scratch
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert env["THYME_SANDBOX_STATE_DIR"] in mounts and mounts["/tmp"]["readOnly"] is True  # nothing shared
    job = children[("Job", "demo-rl-1")]
    config = json.loads(_env(job["spec"]["template"]["spec"]["containers"][0])["THYME_STAGE_CONFIG"]["value"])
    assert config["sandbox_max_sessions"] == 3 * 8  # the trainer holds no more sessions than the pods do
    assert config["sandbox_timeout_seconds"] == 90


def test_a_sandbox_too_small_for_one_worker_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="sandbox.memory '512Mi'"):
        stages.workloads(spec(stages__rl__sandbox={"memory": "512Mi"}), OWNER, "rl", 1)


def test_eval_is_an_indexed_job_with_its_own_locked_down_sandbox():
    s = spec(stages__eval={"benchmarks": [{"name": "VStarBench", "tsv": "b/v.tsv"}], "shards": 3, "gpusPerShard": 2})
    children = stages.workloads(s, OWNER, "eval", 1)
    by = _by_kind(children)
    assert [c["kind"] for c in children] == ["NetworkPolicy", "Deployment", "Service", "Job"]  # the Job last
    job = by[("Job", "demo-eval-1")]["spec"]
    assert (job["completionMode"], job["completions"], job["parallelism"], job["backoffLimit"]) == ("Indexed", 3, 3, 0)
    container = job["template"]["spec"]["containers"][0]
    assert container["command"] == ["thyme", "eval"] and container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert json.loads(_env(container)["THYME_STAGE_CONFIG"]["value"])["num_shards"] == 3
    sandbox = by[("Deployment", "demo-eval-sandbox")]
    assert sandbox["spec"]["template"]["spec"]["runtimeClassName"] == "gvisor"
    assert sandbox["metadata"]["labels"][names.LABEL_STAGE] == "eval"
    policy = by[("NetworkPolicy", "demo-eval-sandbox-deny-egress")]["spec"]
    assert policy["egress"] == [] and policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"][names.LABEL_STAGE] == "eval"
    assert ("Service", "demo-eval-sandbox") in by


def test_eval_on_cpu_uses_the_jobs_image_and_no_gpu():
    s = spec(stages__eval={"benchmarks": [{"name": "VStarBench", "tsv": "b/v.tsv"}], "gpusPerShard": 0})
    job = _by_kind(stages.workloads(s, OWNER, "eval", 1))[("Job", "demo-eval-1")]["spec"]
    container = job["template"]["spec"]["containers"][0]
    assert container["image"] == s.images.jobs and "nvidia.com/gpu" not in container["resources"]["limits"]


@pytest.mark.parametrize("stage", ["sft", "rl"])
def test_gpu_pods_get_a_memory_backed_shm_and_a_sized_scratch_volume_requested_as_ephemeral_storage(stage):
    overrides = {f"stages__{stage}__resources": {"cpu": "8", "memory": "64Gi", "scratch": "300Gi", "shm": "8Gi"}}
    job = _by_kind(stages.workloads(spec(**overrides), OWNER, stage, 1))[("Job", f"demo-{stage}-1")]
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert volumes[mounts["/dev/shm"]]["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    scratch = mounts[_env(container)["THYME_WORK_DIR"]["value"]]
    assert volumes[scratch]["emptyDir"] == {"sizeLimit": "300Gi"}
    assert container["resources"]["requests"]["ephemeral-storage"] == "300Gi"
    assert container["resources"]["limits"]["ephemeral-storage"] == "300Gi"
