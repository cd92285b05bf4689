"""The ThymeRun API (`thyme.dev/v1alpha1`): the one source of its schema.

These pydantic models are to the CRD what Go types are to controller-gen: `crd.py`
turns them into the OpenAPI schema in `charts/thyme/crds/`, the operator parses
bodies with them, and the local runner reads the same YAML with them. Field
descriptions become `kubectl explain` text, bounds become schema bounds, and the
rules under `x-kubernetes-validations` run in the API server at admission, so a bad
manifest is refused before any pod is made.

Imports nothing but pydantic: the stage programs and the local runner use it too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from thyme_operator import names

GROUP = "thyme.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ThymeRun"
PLURAL = "thymeruns"
SINGULAR = "thymerun"
SHORT_NAMES = ["tr"]
CATEGORIES = ["thyme"]

STAGE_ORDER: tuple[str, ...] = ("convert", "sft", "rl", "eval")
"""Stages always run in this order; a stage absent from spec.stages is not run."""

S3_URI = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
QUANTITY = r"^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
SPLIT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def _cel(*rules: tuple[str, str] | tuple[str, str, str]) -> dict[str, Any]:
    """`x-kubernetes-validations` entries from (rule, message[, fieldPath]) tuples."""
    out = []
    for rule in rules:
        entry = {"rule": rule[0], "message": rule[1]}
        if len(rule) == 3:
            entry["fieldPath"] = rule[2]
        out.append(entry)
    return {"x-kubernetes-validations": out}


class ApiModel(BaseModel):
    """Base: lowerCamel JSON names, unknown fields refused, names usable from Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# --------------------------------------------------------------------------- spec


class SecretReference(ApiModel):
    """A Secret in the ThymeRun's namespace that holds the S3 credentials. The operator
    never reads it: stage pods receive the keys through `secretKeyRef`."""

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN, description="name of the Secret, in the run's namespace.")
    access_key_id_key: str = Field(
        "AWS_ACCESS_KEY_ID", min_length=1, max_length=253,
        description="key in the Secret whose value is the S3 access key id.")
    secret_access_key_key: str = Field(
        "AWS_SECRET_ACCESS_KEY", min_length=1, max_length=253,
        description="key in the Secret whose value is the S3 secret access key.")


class StorageSpec(ApiModel):
    """Object storage for every artifact of the run. Immutable: artifacts already
    written under the old location would be orphaned."""

    endpoint: str = Field(
        min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$",
        description="S3 endpoint as host[:port], without scheme (see `secure`).")
    bucket: str = Field(
        min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="bucket that holds the run's artifacts (S3 bucket naming rules).")
    prefix: str = Field(
        "thyme", max_length=200, pattern=r"^[A-Za-z0-9._/-]*$",
        description="key prefix inside the bucket; artifacts go under <prefix>/runs/<namespace>/<name>/.")
    secret_ref: SecretReference = Field(description="Secret with the S3 credentials; credentials are never inline.")
    secure: bool = Field(True, description="use https (true) or http (false) to reach the endpoint.")


class DatasetSpec(ApiModel):
    """Where the public parquet dump lives and which of its splits to convert."""

    source: str = Field(max_length=1024, pattern=S3_URI, description="s3:// URI of the parquet dump (e.g. s3://datasets/Thyme-SFT).")
    splits: list[str] = Field(
        min_length=1, max_length=32,
        json_schema_extra={"items": {"maxLength": 63, "pattern": SPLIT_NAME}, "x-kubernetes-list-type": "set"},
        description="splits of the dump to convert; SFT phases and RL name splits from this list.")


class ModelSpec(ApiModel):
    """The base model. Weights come from object storage: GPU clusters are often air-gapped."""

    base: str = Field(max_length=1024, pattern=S3_URI, description="s3:// URI of a Hugging Face model directory.")


class Resources(ApiModel):
    """Per-pod resource requests (limits equal requests so pods are Guaranteed)."""

    cpu: str = Field("4", max_length=32, pattern=QUANTITY, description="CPU request per pod, as a Kubernetes quantity.")
    memory: str = Field("16Gi", max_length=32, pattern=QUANTITY, description="memory request per pod, as a Kubernetes quantity.")


class RetryPolicy(ApiModel):
    """How a failed stage is retried. Attempt n+1 starts `backoffSeconds * 2^(n-1)`
    seconds (at most `maxBackoffSeconds`) after attempt n failed, and resumes from the
    stage's newest complete checkpoint. After `limit` retries the run is Failed."""

    model_config = ConfigDict(json_schema_extra=_cel(
        ("self.maxBackoffSeconds >= self.backoffSeconds",
         "maxBackoffSeconds must be at least backoffSeconds", ".maxBackoffSeconds")))

    limit: int = Field(3, ge=0, le=names.MAX_RETRIES, description="retries after the first attempt; 0 means fail at the first failure.")
    backoff_seconds: int = Field(10, ge=0, le=3600, description="delay before the first retry, doubled for each further one.")
    max_backoff_seconds: int = Field(600, ge=0, le=86400, description="cap on the delay between attempts.")


def _default(model: type[BaseModel]) -> dict[str, Any]:
    """The full default object, visible in the schema. `{}` would not do: the API server
    checks a default against CEL rules before nested defaults fill it in."""
    return {"default": model().model_dump(by_alias=True, exclude_none=True)}


class ConvertStage(ApiModel):
    """Convert the parquet dump into images + JSONL: an Indexed Job, one pod per shard."""

    shards: int = Field(8, ge=1, le=names.MAX_SHARDS, description="number of shards, i.e. pods of the Indexed Job.")
    workers: int = Field(4, ge=1, le=64, description="decode worker processes per pod.")
    resources: Resources = Field(default_factory=Resources, json_schema_extra=_default(Resources), description="per-pod resources.")
    retries: RetryPolicy = Field(default_factory=RetryPolicy, json_schema_extra=_default(RetryPolicy), description="retry policy of this stage.")


class SFTPhase(ApiModel):
    """One phase of supervised fine-tuning (Thyme trains in two: general, then math)."""

    splits: list[str] = Field(
        min_length=1, max_length=32, json_schema_extra={"items": {"maxLength": 63, "pattern": SPLIT_NAME}},
        description="dataset splits this phase trains on; each must be in spec.dataset.splits.")
    learning_rate: float = Field(1e-5, gt=0, le=1, description="peak learning rate.")
    epochs: int = Field(1, ge=1, le=100, description="passes over the phase's data.")


class SFTStage(ApiModel):
    """Supervised fine-tuning with torchrun: an Indexed Job (one pod per node) and a
    headless Service for rendezvous."""

    phases: list[SFTPhase] = Field(min_length=1, max_length=8, description="training phases, run in order.")
    nodes: int = Field(1, ge=1, le=names.MAX_NODES, description="nodes (pods) in the torchrun group.")
    gpus_per_node: int = Field(8, ge=1, le=16, description="GPUs requested per pod (nvidia.com/gpu) and torchrun processes per node.")
    deepspeed: Literal["zero2", "zero3", "none"] = Field("zero3", description="DeepSpeed ZeRO stage, or none.")
    freeze_vision: bool = Field(True, description="keep the vision tower frozen.")
    gradient_checkpointing: bool = Field(True, description="recompute activations to save memory.")
    max_length: int = Field(16384, ge=256, le=131072, description="maximum sequence length in tokens.")
    max_pixels: int = Field(2_000_000, ge=3136, le=16_777_216, description="image resize budget in pixels.")
    per_device_batch_size: int = Field(1, ge=1, le=256, description="micro-batch per GPU.")
    gradient_accumulation_steps: int = Field(8, ge=1, le=1024, description="micro-batches per optimizer step.")
    save_steps: int = Field(500, ge=1, le=1_000_000, description="checkpoint every this many optimizer steps.")
    train_rounds: Literal["last", "all"] = Field("last", description="which assistant rounds carry loss.")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="random seed.")
    master_port: int = Field(29500, ge=1024, le=65535, description="torchrun rendezvous port on node 0.")
    resources: Resources = Field(
        default_factory=lambda: Resources(cpu="32", memory="512Gi"),
        json_schema_extra={"default": {"cpu": "32", "memory": "512Gi"}}, description="per-pod CPU and memory.")
    retries: RetryPolicy = Field(default_factory=RetryPolicy, json_schema_extra=_default(RetryPolicy), description="retry policy of this stage.")


class Rewards(ApiModel):
    """Weights of the three reward terms."""

    model_config = ConfigDict(json_schema_extra=_cel(
        ("self.format + self.accuracy + self.consistency > 0.0", "at least one reward weight must be positive")))

    format: float = Field(1.0, ge=0, le=10, description="weight of the format reward (balanced tags, valid code blocks).")
    accuracy: float = Field(1.0, ge=0, le=10, description="weight of the accuracy reward (rule match, then the judge).")
    consistency: float = Field(1.0, ge=0, le=10, description="weight of the reasoning/answer consistency reward.")


class JudgeSpec(ApiModel):
    """The LLM judge for answers a rule cannot match: an existing OpenAI-compatible
    `endpoint`, or a `model` the operator serves in a Deployment. Exactly one."""

    model_config = ConfigDict(json_schema_extra=_cel(
        ("has(self.endpoint) != has(self.model)", "exactly one of judge.endpoint and judge.model must be set")))

    endpoint: str | None = Field(None, max_length=1024, pattern=r"^https?://[^\s]+$", description="URL of an OpenAI-compatible server.")
    model: str | None = Field(None, max_length=1024, pattern=S3_URI, description="s3:// URI of a judge model to serve in the cluster.")
    model_name: str = Field("judge", max_length=253, description="model name sent in judge requests.")
    gpus: int = Field(1, ge=1, le=16, description="GPUs for the served judge (with `model` only).")
    timeout_seconds: int = Field(60, ge=1, le=3600, description="per-request timeout; a judge outage is an error, never a silent zero.")


class RolloutSpec(ApiModel):
    """vLLM rollout servers the trainer sends generation requests to."""

    replicas: int = Field(1, ge=1, le=64, description="rollout server pods.")
    gpus_per_replica: int = Field(1, ge=1, le=16, description="GPUs per rollout pod (tensor parallel size).")


class SandboxSpec(ApiModel):
    """The code sandbox: a Deployment + Service with no egress, under gVisor."""

    replicas: int = Field(2, ge=1, le=256, description="sandbox pods.")
    runtime_class_name: str = Field("gvisor", max_length=253, pattern=DNS_SUBDOMAIN, description="RuntimeClass of sandbox pods.")
    timeout_seconds: int = Field(10, ge=1, le=600, description="wall-clock limit per code execution.")
    memory: str = Field("2Gi", max_length=32, pattern=QUANTITY, description="memory per sandbox pod.")
    cpu: str = Field("2", max_length=32, pattern=QUANTITY, description="CPU per sandbox pod.")


class RLStage(ApiModel):
    """GRPO-ATS reinforcement learning: a trainer Job, rollout servers, sandboxes and,
    when `judge.model` is set, a judge server."""

    model_config = ConfigDict(json_schema_extra=_cel(
        ("self.codeTemperature <= self.textTemperature",
         "codeTemperature must not exceed textTemperature", ".codeTemperature"),
        ("self.batchSize % self.gpus == 0",
         "batchSize must be a multiple of gpus: each GPU's process rolls out whole prompt groups", ".batchSize")))

    algorithm: Literal["grpo-ats"] = Field("grpo-ats", description="RL algorithm; GRPO with adaptive temperature sampling.")
    splits: list[str] = Field(
        min_length=1, max_length=32, json_schema_extra={"items": {"maxLength": 63, "pattern": SPLIT_NAME}},
        description="dataset splits to sample prompts from; each must be in spec.dataset.splits.")
    num_generations: int = Field(8, ge=2, le=64, description="samples per prompt (the GRPO group size).")
    max_rounds: int = Field(5, ge=1, le=32, description="code/observation rounds per sample.")
    text_temperature: float = Field(1.0, ge=0, le=2, description="sampling temperature outside <code>.")
    code_temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature inside <code>.")
    rewards: Rewards = Field(default_factory=Rewards, json_schema_extra=_default(Rewards), description="reward weights.")
    judge: JudgeSpec | None = Field(
        None, description="the LLM judge: an endpoint or a model to serve. Omitted, accuracy is rule-only "
                          "(answers no rule can decide score 0, consistency is not measured) and rl/manifest.json says so.")
    rollout: RolloutSpec = Field(default_factory=RolloutSpec, json_schema_extra=_default(RolloutSpec), description="rollout servers.")
    sandbox: SandboxSpec = Field(default_factory=SandboxSpec, json_schema_extra=_default(SandboxSpec), description="code sandboxes.")
    learning_rate: float = Field(1e-6, gt=0, le=1, description="learning rate.")
    kl_beta: float = Field(0.0, ge=0, le=10, description="weight of the KL penalty to the reference model.")
    clip_epsilon: float = Field(0.2, gt=0, le=1, description="PPO-style ratio clip.")
    steps: int = Field(1000, ge=1, le=10_000_000, description="optimizer steps.")
    batch_size: int = Field(64, ge=1, le=65536, description="prompts per step.")
    max_new_tokens: int = Field(2048, ge=16, le=131072, description="generation budget per round.")
    save_steps: int = Field(50, ge=1, le=1_000_000, description="checkpoint every this many steps.")
    gpus: int = Field(8, ge=1, le=16, description="GPUs of the trainer pod, one torchrun process each.")
    deepspeed: Literal["zero2", "zero3", "none"] = Field(
        "zero3", description="DeepSpeed ZeRO stage of the policy update, or none (plain AdamW, gradients averaged over the processes).")
    resources: Resources = Field(
        default_factory=lambda: Resources(cpu="32", memory="512Gi"),
        json_schema_extra={"default": {"cpu": "32", "memory": "512Gi"}}, description="trainer pod CPU and memory.")
    retries: RetryPolicy = Field(default_factory=RetryPolicy, json_schema_extra=_default(RetryPolicy), description="retry policy of this stage.")


class EvalBenchmark(ApiModel):
    """One benchmark in VLMEvalKit's TSV format; its name picks its columns and scorer."""

    name: Literal["VStarBench", "HRBench4K", "HRBench8K", "MME-RealWorld", "MME-RealWorld-Lite"] = Field(
        description="VStarBench, HRBench4K, HRBench8K, MME-RealWorld or MME-RealWorld-Lite.")
    tsv: str = Field(min_length=1, max_length=1024, pattern=r"^[^\s]+$",
                     description="the TSV: an s3:// URI, or a key under the run's store prefix.")
    limit: int | None = Field(None, ge=1, le=1_000_000, description="score only the first this many rows.")


class EvalJudgeSpec(ApiModel):
    """The answer-matching judge of V* and HR-Bench (asked when no option letter can be read)."""

    endpoint: str = Field(max_length=1024, pattern=r"^https?://[^\s]+$", description="URL of an OpenAI-compatible server.")
    model_name: str = Field("judge", max_length=253, description="model name sent in judge requests.")
    on_failure: Literal["random", "wrong"] = Field(
        "random", description="when the judge never names an option: random (VLMEvalKit, seeded per item) or wrong.")


class EvalStage(ApiModel):
    """Benchmarks scored as VLMEvalKit scores Thyme: an Indexed Job sharding the items, and
    a sandbox Deployment for the model's code."""

    benchmarks: list[EvalBenchmark] = Field(min_length=1, max_length=16, description="benchmarks to score.")
    checkpoints: list[str] | None = Field(
        None, max_length=8, json_schema_extra={"items": {"type": "string", "maxLength": 1024, "pattern": r"^[^\s]+$"}},
        description="models to score: base, sft/final, rl/final or s3:// URIs of model directories; "
                    "omitted: base, sft/final and rl/final, whichever exist.")
    shards: int = Field(1, ge=1, le=names.MAX_SHARDS, description="pods of the Indexed Job; item i goes to pod i mod shards.")
    gpus_per_shard: int = Field(1, ge=0, le=16, description="GPUs per pod (0 runs on CPU).")
    batch_size: int = Field(16, ge=1, le=4096, description="items generated side by side.")
    max_new_tokens: int = Field(2048, ge=16, le=131072, description="token limit of one segment (VLMEvalKit: 2048).")
    max_iterations: int = Field(5, ge=1, le=64, description="segments per attempt (VLMEvalKit: 5).")
    max_retry: int = Field(5, ge=1, le=64, description="attempts per item (VLMEvalKit: 5).")
    temperature: float = Field(0.01, ge=0, le=2, description="sampling temperature (VLMEvalKit: 0.01 with top_k 1).")
    retry_temperature: float | None = Field(
        1.0, ge=0, le=2, description="temperature after a failed attempt (VLMEvalKit: 1.0); null keeps temperature.")
    fallback: bool = Field(True, description="one simple-prompt answer when no attempt answered (VLMEvalKit: yes).")
    judge: EvalJudgeSpec | None = Field(
        None, description="the matching judge; omitted, an answer without a readable option letter is wrong "
                          "(VLMEvalKit's exact matching).")
    sandbox: SandboxSpec = Field(default_factory=SandboxSpec, json_schema_extra=_default(SandboxSpec), description="code sandboxes.")
    resources: Resources = Field(
        default_factory=lambda: Resources(cpu="8", memory="64Gi"),
        json_schema_extra={"default": {"cpu": "8", "memory": "64Gi"}}, description="per-pod CPU and memory.")
    retries: RetryPolicy = Field(default_factory=RetryPolicy, json_schema_extra=_default(RetryPolicy), description="retry policy of this stage.")


class Stages(ApiModel):
    """The stages to run, in the fixed order convert, sft, rl, eval. Leave one out to skip it
    (its inputs must then already be in the run's store). Immutable once set."""

    model_config = ConfigDict(json_schema_extra=_cel(
        ("has(self.convert) || has(self.sft) || has(self.rl) || has(self.eval)",
         "spec.stages must name at least one stage")))

    convert: ConvertStage | None = Field(None, description="the convert stage.")
    sft: SFTStage | None = Field(None, description="the SFT stage.")
    rl: RLStage | None = Field(None, description="the RL stage.")
    eval: EvalStage | None = Field(None, description="the evaluation stage (after RL; alone, it scores models already in the store).")


class Images(ApiModel):
    """Container images of the stage pods."""

    jobs: str = Field("ghcr.io/thyme-k8s/jobs:0.1.0", min_length=1, max_length=512, description="CPU image with the thyme CLI (convert).")
    trainer: str = Field("ghcr.io/thyme-k8s/trainer:0.1.0", min_length=1, max_length=512, description="GPU image (sft, rl trainer, rollout, judge).")
    sandbox: str = Field("ghcr.io/thyme-k8s/sandbox:0.1.0", min_length=1, max_length=512, description="sandbox server image.")
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field("IfNotPresent", description="imagePullPolicy of every container.")


class Toleration(ApiModel):
    """A pod toleration, as in core/v1."""

    key: str | None = Field(None, max_length=316, description="taint key; empty with operator Exists matches all.")
    operator: Literal["Exists", "Equal"] = Field("Equal", description="Exists or Equal.")
    value: str | None = Field(None, max_length=63, description="taint value for operator Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(None, description="taint effect; empty matches all.")
    toleration_seconds: int | None = Field(None, ge=0, description="how long a NoExecute taint is tolerated.")


class Scheduling(ApiModel):
    """Where and how stage pods are scheduled."""

    queue_name: str | None = Field(
        None, max_length=63, pattern=DNS_LABEL,
        description="Kueue LocalQueue: child Jobs get the kueue.x-k8s.io/queue-name label and are created suspended for Kueue to admit.")
    priority_class_name: str | None = Field(None, max_length=253, pattern=DNS_SUBDOMAIN, description="PriorityClass of stage pods.")
    node_selector: dict[str, str] = Field(
        default_factory=dict, json_schema_extra={"maxProperties": 32, "additionalProperties": {"type": "string", "maxLength": 63}},
        description="nodeSelector of GPU stage pods (sft, rl).")
    tolerations: list[Toleration] = Field(default_factory=list, max_length=32, description="tolerations of GPU stage pods.")


class PodMetadata(ApiModel):
    """Extra labels and annotations put on every stage pod (e.g. for cost tracking)."""

    labels: dict[str, str] = Field(
        default_factory=dict, json_schema_extra={"maxProperties": 32, "additionalProperties": {"type": "string", "maxLength": 63}},
        description="labels added to stage pods; the thyme.dev/ labels win on conflict.")
    annotations: dict[str, str] = Field(
        default_factory=dict, json_schema_extra={"maxProperties": 32, "additionalProperties": {"type": "string", "maxLength": 4096}},
        description="annotations added to stage pods.")


class ThymeRunSpec(ApiModel):
    """What to run: data, model, stages and where artifacts go."""

    model_config = ConfigDict(json_schema_extra=_cel(
        ("self.storage == oldSelf.storage", "spec.storage is immutable", ".storage"),
        ("self.dataset == oldSelf.dataset", "spec.dataset is immutable", ".dataset"),
        ("self.model == oldSelf.model", "spec.model is immutable", ".model"),
        ("self.stages == oldSelf.stages", "spec.stages is immutable; create a new ThymeRun to change stages", ".stages"),
        ("!has(self.stages.sft) || self.stages.sft.phases.all(p, p.splits.all(s, s in self.dataset.splits))",
         "every split in spec.stages.sft.phases[].splits must be listed in spec.dataset.splits", ".stages.sft.phases"),
        ("!has(self.stages.rl) || self.stages.rl.splits.all(s, s in self.dataset.splits)",
         "every split in spec.stages.rl.splits must be listed in spec.dataset.splits", ".stages.rl.splits"),
    ))

    storage: StorageSpec = Field(description="object storage for artifacts (immutable).")
    dataset: DatasetSpec = Field(description="source dataset (immutable).")
    model: ModelSpec = Field(description="base model (immutable).")
    stages: Stages = Field(description="stages to run (immutable).")
    images: Images = Field(default_factory=Images, json_schema_extra=_default(Images), description="container images.")
    scheduling: Scheduling = Field(default_factory=Scheduling, json_schema_extra=_default(Scheduling), description="scheduling of stage pods.")
    pod_metadata: PodMetadata = Field(default_factory=PodMetadata, json_schema_extra=_default(PodMetadata), description="extra pod labels and annotations.")
    suspend: bool = Field(
        False, description="true stops the active stage's pods (its workloads are deleted); false resumes the run "
                           "from the first unfinished stage without redoing finished ones.")

    def stage_names(self) -> list[str]:
        """Stages this run has, in run order."""
        return [s for s in STAGE_ORDER if getattr(self.stages, s) is not None]

    def retries(self, stage: str) -> RetryPolicy:
        return getattr(self.stages, stage).retries


# --------------------------------------------------------------------------- status


class Condition(ApiModel):
    """metav1.Condition."""

    type: str = Field(max_length=316, description="condition type (Ready, Progressing, Failed, Suspended, <Stage>Succeeded).")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    observed_generation: int | None = Field(None, ge=0, description="metadata.generation the condition was set from.")
    last_transition_time: str = Field(json_schema_extra={"format": "date-time"}, description="when status last changed.")
    reason: str = Field(min_length=1, max_length=1024, description="CamelCase reason, see conditions.py.")
    message: str = Field("", max_length=32768, description="human-readable detail.")


StageState = Literal["Pending", "Running", "BackingOff", "Suspended", "Succeeded", "Failed"]


class StageStatus(ApiModel):
    """Observed state of one stage."""

    state: StageState = Field("Pending", description="Pending, Running, BackingOff, Suspended, Succeeded or Failed.")
    attempts: int = Field(0, ge=0, description="attempts started so far (1 = the first).")
    start_time: str | None = Field(None, json_schema_extra={"format": "date-time"}, description="when the first attempt started.")
    completion_time: str | None = Field(None, json_schema_extra={"format": "date-time"}, description="when the stage succeeded or finally failed.")
    artifact: str | None = Field(None, max_length=2048, description="s3:// URI of the stage's output.")
    message: str | None = Field(None, max_length=32768, description="last failure or progress message.")


class StagesStatus(ApiModel):
    convert: StageStatus | None = None
    sft: StageStatus | None = None
    rl: StageStatus | None = None
    eval: StageStatus | None = None


Phase = Literal["Pending", "Running", "Suspended", "Succeeded", "Failed"]


class ThymeRunStatus(ApiModel):
    """Observed state of the run, written only by the operator."""

    phase: Phase | None = Field(None, description="Pending, Running, Suspended, Succeeded or Failed.")
    current_stage: str | None = Field(None, max_length=32, description="the stage running now, or the one that failed.")
    progress: str | None = Field(None, max_length=16, description="finished stages / all stages, e.g. 1/3.")
    observed_generation: int | None = Field(None, ge=0, description="metadata.generation this status reflects.")
    start_time: str | None = Field(None, json_schema_extra={"format": "date-time"}, description="when the run started.")
    completion_time: str | None = Field(None, json_schema_extra={"format": "date-time"}, description="when the run ended.")
    conditions: list[Condition] = Field(
        default_factory=list, max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        description="metav1.Conditions keyed on type.")
    stages: StagesStatus = Field(default_factory=StagesStatus, description="per-stage state.")


class ThymeRun(ApiModel):
    """A Thyme training pipeline: convert the dataset, fine-tune, then RL, with
    artifacts in object storage."""

    model_config = ConfigDict(json_schema_extra=_cel(
        (f"size(self.metadata.name) <= {names.MAX_RUN_NAME}",
         f"metadata.name must be at most {names.MAX_RUN_NAME} characters so that child names "
         f"<name>-<stage>-<attempt>-<index> fit a 63-character DNS label"),
        ("self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
         "metadata.name must be an RFC 1035 label (lower case letters, digits, '-', starting with a letter): "
         "it names Services"),
    ), extra="ignore")

    api_version: str = Field(API_VERSION, alias="apiVersion")
    kind: str = KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ThymeRunSpec
    status: ThymeRunStatus = Field(default_factory=ThymeRunStatus)
