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

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from thyme_operator import names, recipe

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
RFC1035 = "^[a-z]([-a-z0-9]*[a-z0-9])?$"


@dataclass(frozen=True)
class Rule:
    """A cross-field rule, defined once for both places a ThymeRun is checked.

    `cel` is what the API server evaluates at admission (it goes into the CRD under
    `x-kubernetes-validations`); `check` is the same rule over the parsed model, which
    `thyme run` applies when it loads a manifest, so a local run refuses exactly what the
    cluster refuses, with the same message. The two spellings sit side by side here, and
    tests/cluster/test_thymerun_admission.py sends every case of its table to a real
    API server and to the local loader and fails if they disagree. A rule on `oldSelf`
    (immutability) has no `check`: it only means something on an update, which a local
    run never sees.
    """

    cel: str
    message: str
    check: Callable[[Any], bool] | None
    field_path: str | None = None

    def schema(self) -> dict[str, str]:
        entry = {"rule": self.cel, "message": self.message}
        if self.field_path:
            entry["fieldPath"] = self.field_path
        return entry


def _cel(*rules: Rule | tuple[str, ...]) -> dict[str, Any]:
    """`x-kubernetes-validations` entries from the model's rules. A bare (rule, message[,
    fieldPath]) tuple still renders, but has no local check: test_crd.py fails on it
    until it becomes a Rule in the model's `rules`."""
    entries = [r.schema() if isinstance(r, Rule) else Rule(r[0], r[1], None, r[2] if len(r) > 2 else None).schema()
               for r in rules]
    return {"x-kubernetes-validations": entries}


class ApiModel(BaseModel):
    """Base: lowerCamel JSON names, unknown fields refused, names usable from Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _apply_rules(self) -> "ApiModel":
        for rule in type(self).rules:
            if rule.check is not None and not rule.check(self):
                raise ValueError(rule.message)
        return self


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

    @model_validator(mode="after")
    def _splits_are_a_set(self) -> "DatasetSpec":
        # What `x-kubernetes-list-type: set` makes the API server refuse, refused here too.
        if len(set(self.splits)) != len(self.splits):
            raise ValueError(f"spec.dataset.splits: Duplicate value in {self.splits}")
        return self


class RLDatasetSpec(ApiModel):
    """An RL dataset in one of the reference systems' layouts, converted by the convert stage
    beside the SFT dump and read by the RL stage. Converted split names follow the layout:
    `thyme_rl` for thyme-rl; `deepeyes_<file>` (deepeyes_vstar, deepeyes_chart,
    deepeyes_thinklite) for deepeyes."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("self.layout == 'deepeyes' || !has(self.files)", "files applies to the deepeyes layout only",
             lambda d: d.layout == "deepeyes" or d.files is None, ".files"),
    )
    model_config = ConfigDict(json_schema_extra=_cel(*rules))

    source: str = Field(max_length=1024, pattern=S3_URI,
                        description="s3:// URI of the dataset's parquet files (e.g. s3://datasets/DeepEyes-Datasets-47k).")
    layout: Literal["thyme-rl", "deepeyes"] = Field(
        description="thyme-rl (Kwai-Keye/Thyme-RL: messages, base64 images, solution as the ground truth) or "
                    "deepeyes (ChenShawn/DeepEyes-Datasets-47k: three parquet files in verl's row layout).")
    files: list[Literal["vstar", "chart", "thinklite"]] | None = Field(
        None, min_length=1, max_length=3, json_schema_extra={"x-kubernetes-list-type": "set"},
        description="deepeyes only: which files to convert; unset means vstar and thinklite. chart is left out by "
                    "default: its very high-resolution figures make zoomed crops that stay large and run a single "
                    "node out of memory (the verl recipe advises against it on one node).")

    def split_names(self) -> list[str]:
        """The converted splits this dataset gives (what the RL stage reads)."""
        if self.layout == "thyme-rl":
            return ["thyme_rl"]
        return [f"deepeyes_{f}" for f in (self.files or ["vstar", "thinklite"])]


class ModelSpec(ApiModel):
    """The base model. Weights come from object storage: GPU clusters are often air-gapped."""

    base: str = Field(max_length=1024, pattern=S3_URI, description="s3:// URI of a Hugging Face model directory.")


class Resources(ApiModel):
    """Per-pod resource requests (limits equal requests so pods are Guaranteed)."""

    cpu: str = Field("4", max_length=32, pattern=QUANTITY, description="CPU request per pod, as a Kubernetes quantity.")
    memory: str = Field("16Gi", max_length=32, pattern=QUANTITY, description="memory request per pod, as a Kubernetes quantity.")


class GPUPodResources(Resources):
    """Resources of a GPU stage pod: CPU and memory as for every pod, plus the two local
    volumes a trainer writes to. Without them a 7B checkpoint (about 15 GB of weights,
    several times that with optimizer state) lands in the container's writable layer,
    which the kubelet neither sizes nor schedules for, and NCCL's shared-memory transport
    and the dataloader's workers fail on the 64 MiB /dev/shm a container gets by default."""

    scratch: str = Field(
        "200Gi", max_length=32, pattern=QUANTITY,
        description="size of the local scratch volume (an emptyDir at /scratch, named by THYME_WORK_DIR) that "
                    "holds the model, checkpoints and DeepSpeed's files before they go to the store; requested "
                    "(and limited) as ephemeral-storage so the scheduler picks a node with the disk.")
    shm: str = Field(
        "16Gi", max_length=32, pattern=QUANTITY,
        description="size of the memory-backed /dev/shm (NCCL, dataloader workers); it counts toward `memory`.")


class RetryPolicy(ApiModel):
    """How a failed stage is retried. Attempt n+1 starts `backoffSeconds * 2^(n-1)`
    seconds (at most `maxBackoffSeconds`) after attempt n failed, and resumes from the
    stage's newest complete checkpoint. After `limit` retries the run is Failed."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("self.maxBackoffSeconds >= self.backoffSeconds", "maxBackoffSeconds must be at least backoffSeconds",
             lambda p: p.max_backoff_seconds >= p.backoff_seconds, ".maxBackoffSeconds"),
    )
    model_config = ConfigDict(json_schema_extra=_cel(*rules))

    limit: int = Field(3, ge=0, le=names.MAX_RETRIES, description="retries after the first attempt; 0 means fail at the first failure.")
    backoff_seconds: int = Field(10, ge=0, le=3600, description="delay before the first retry, doubled for each further one.")
    max_backoff_seconds: int = Field(600, ge=0, le=86400, description="cap on the delay between attempts.")


class StageTimeouts(ApiModel):
    """When a stage stops waiting. Without these a stage whose pods can never run
    (unschedulable, an image that does not pull, a quota or admission webhook refusing
    them) would stay Running forever; with them it fails with a reason that says which
    limit it hit and what was last seen."""

    deadline_seconds: int | None = Field(
        None, ge=60, le=30 * 86400,
        description="wall-clock limit of the whole stage, counted from its first attempt's start, retries and "
                    "backoff included; when it passes, the stage's workloads are deleted and the stage fails with "
                    "reason DeadlineExceeded. Unset: no limit.")
    pending_seconds: int | None = Field(
        3600, ge=30, le=7 * 86400,
        description="how long an attempt may go without any of its pods running (its workloads refused, "
                    "unschedulable, an image not pulled) before the stage fails with reason PendingTimeout. Time a "
                    "Job spends suspended waiting for Kueue's admission does not count. Null: wait forever.")


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
    timeouts: StageTimeouts = Field(default_factory=StageTimeouts, json_schema_extra=_default(StageTimeouts), description="deadline and pending timeout of this stage.")


class SFTPhase(ApiModel):
    """One phase of supervised fine-tuning (Thyme trains in two: general, then math)."""

    splits: list[str] = Field(
        min_length=1, max_length=32, json_schema_extra={"items": {"maxLength": 63, "pattern": SPLIT_NAME}},
        description="dataset splits this phase trains on; each must be in spec.dataset.splits.")
    learning_rate: float = Field(recipe.SFT_LEARNING_RATE, gt=0, le=1,
                                 description="peak learning rate (Thyme: 1e-5, then 1e-6 for the computation annealing).")
    epochs: int = Field(recipe.SFT_EPOCHS, ge=1, le=100, description="passes over the phase's data.")


class SFTStage(ApiModel):
    """Supervised fine-tuning with torchrun: an Indexed Job (one pod per node) and a
    headless Service for rendezvous."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("!has(self.systemPrompt) || !has(self.systemPromptUri)",
             "give systemPrompt or systemPromptUri, not both", lambda st: st.system_prompt is None or st.system_prompt_uri is None,
             ".systemPromptUri"),
    )
    model_config = ConfigDict(json_schema_extra=_cel(*rules))

    phases: list[SFTPhase] = Field(min_length=1, max_length=8, description="training phases, run in order.")
    nodes: int = Field(1, ge=1, le=names.MAX_NODES, description="nodes (pods) in the torchrun group.")
    gpus_per_node: int = Field(8, ge=1, le=16, description="GPUs requested per pod (nvidia.com/gpu) and torchrun processes per node.")
    deepspeed: Literal["zero2", "zero3", "none"] = Field(recipe.SFT_DEEPSPEED, description="DeepSpeed ZeRO stage, or none.")
    freeze_vision: bool = Field(recipe.SFT_FREEZE_VISION, description="keep the vision tower frozen.")
    gradient_checkpointing: bool = Field(recipe.SFT_GRADIENT_CHECKPOINTING, description="recompute activations to save memory.")
    max_length: int = Field(recipe.SFT_MAX_LENGTH, ge=256, le=131072, description="maximum sequence length in tokens.")
    max_pixels: int = Field(recipe.SFT_MAX_PIXELS, ge=3136, le=16_777_216, description="image resize budget in pixels.")
    per_device_batch_size: int = Field(recipe.SFT_PER_DEVICE_BATCH_SIZE, ge=1, le=256, description="micro-batch per GPU.")
    gradient_accumulation_steps: int = Field(recipe.SFT_GRADIENT_ACCUMULATION_STEPS, ge=1, le=1024,
                                             description="micro-batches per optimizer step.")
    warmup_ratio: float = Field(recipe.SFT_WARMUP_RATIO, ge=0, lt=1, description="linear warmup, as a fraction of each phase.")
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"] = Field(
        recipe.SFT_LR_SCHEDULER, description="learning-rate schedule after the warmup.")
    max_steps: int | None = Field(None, ge=1, le=10_000_000, description="cap on optimizer steps over all phases; unset: no cap.")
    save_steps: int = Field(recipe.SFT_SAVE_STEPS, ge=1, le=1_000_000, description="checkpoint every this many optimizer steps.")
    train_rounds: Literal["last", "all"] = Field(recipe.SFT_TRAIN_ROUNDS, description="which assistant rounds carry loss.")
    seed: int = Field(recipe.SEED, ge=0, le=2**31 - 1, description="random seed.")
    system_prompt: str | None = Field(
        None, max_length=32768,
        description="system turn of every training row; unset: the stage's built-in prompt; empty: no system turn. "
                    "To train with Thyme's own prompt, use systemPromptUri.")
    system_prompt_uri: str | None = Field(
        None, max_length=1024, pattern=S3_URI,
        description="s3:// URI of a UTF-8 text object whose content is the system prompt (e.g. Thyme's "
                    "scripts/prompt.txt uploaded to the store); read by the stage when it starts.")
    master_port: int = Field(29500, ge=1024, le=65535, description="torchrun rendezvous port on node 0.")
    resources: GPUPodResources = Field(
        default_factory=lambda: GPUPodResources(cpu="32", memory="512Gi"),
        json_schema_extra={"default": GPUPodResources(cpu="32", memory="512Gi").model_dump(by_alias=True)},
        description="per-pod CPU, memory, scratch disk and /dev/shm.")
    retries: RetryPolicy = Field(default_factory=RetryPolicy, json_schema_extra=_default(RetryPolicy), description="retry policy of this stage.")
    timeouts: StageTimeouts = Field(default_factory=StageTimeouts, json_schema_extra=_default(StageTimeouts), description="deadline and pending timeout of this stage.")


class Rewards(ApiModel):
    """Weights of the three reward terms."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("self.format + self.accuracy + self.consistency > 0.0", "at least one reward weight must be positive",
             lambda r: r.format + r.accuracy + r.consistency > 0.0),
    )
    model_config = ConfigDict(json_schema_extra=_cel(*rules))

    format: float = Field(recipe.REWARD_FORMAT, ge=0, le=10, description="weight of the format reward (balanced tags, valid code blocks).")
    accuracy: float = Field(recipe.REWARD_ACCURACY, ge=0, le=10, description="weight of the accuracy reward (rule match, then the judge).")
    consistency: float = Field(recipe.REWARD_CONSISTENCY, ge=0, le=10, description="weight of the reasoning/answer consistency reward.")


class JudgeSpec(ApiModel):
    """The LLM judge for answers a rule cannot match: an existing OpenAI-compatible
    `endpoint`, or a `model` the operator serves in a Deployment. Exactly one."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("has(self.endpoint) != has(self.model)", "exactly one of judge.endpoint and judge.model must be set",
             lambda j: (j.endpoint is not None) != (j.model is not None)),
    )
    model_config = ConfigDict(json_schema_extra=_cel(*rules))

    endpoint: str | None = Field(None, max_length=1024, pattern=r"^https?://[^\s]+$", description="URL of an OpenAI-compatible server.")
    model: str | None = Field(None, max_length=1024, pattern=S3_URI, description="s3:// URI of a judge model to serve in the cluster.")
    model_name: str = Field("judge", max_length=253, description="model name sent in judge requests.")
    gpus: int = Field(1, ge=1, le=16, description="GPUs for the served judge (with `model` only).")
    timeout_seconds: int = Field(recipe.JUDGE_TIMEOUT_SECONDS, ge=1, le=3600,
                                 description="per-request timeout; a judge outage is an error, never a silent zero.")
    max_retries: int = Field(recipe.JUDGE_MAX_RETRIES, ge=0, le=20, description="retries of a failed judge request.")
    backoff_seconds: float = Field(recipe.JUDGE_BACKOFF_SECONDS, ge=0, le=60,
                                   description="delay before the first retry, doubled for each further one.")
    max_outage_steps: int = Field(recipe.JUDGE_MAX_OUTAGE_STEPS, ge=1, le=1000,
                                  description="steps in a row the judge may be out (each is retried) before the stage fails.")


class RolloutSpec(ApiModel):
    """vLLM rollout servers the trainer sends generation requests to."""

    replicas: int = Field(1, ge=1, le=64, description="rollout server pods.")
    gpus_per_replica: int = Field(1, ge=1, le=16, description="GPUs per rollout pod (tensor parallel size).")


class SandboxSpec(ApiModel):
    """The code sandbox: a Deployment + Service with no egress, under gVisor."""

    replicas: int = Field(2, ge=1, le=256, description="sandbox pods.")
    runtime_class_name: str = Field("gvisor", max_length=253, pattern=DNS_SUBDOMAIN, description="RuntimeClass of sandbox pods.")
    timeout_seconds: int = Field(recipe.SANDBOX_TIMEOUT_SECONDS, ge=1, le=600, description="wall-clock limit per code execution.")
    memory: str = Field("2Gi", max_length=32, pattern=QUANTITY, description="memory per sandbox pod.")
    cpu: str = Field("2", max_length=32, pattern=QUANTITY, description="CPU per sandbox pod.")


class RLStage(ApiModel):
    """GRPO reinforcement learning with a temperature switch at code (Thyme's GRPO-ATS): a
    trainer Job, sandboxes and, when `judge.model` is set, a judge server."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("self.codeTemperature <= self.textTemperature", "codeTemperature must not exceed textTemperature",
             lambda r: r.code_temperature <= r.text_temperature, ".codeTemperature"),
        Rule("self.batchSize % self.gpus == 0",
             "batchSize must be a multiple of gpus: each GPU's process rolls out whole prompt groups",
             lambda r: r.batch_size % r.gpus == 0, ".batchSize"),
        Rule("!has(self.systemPrompt) || !has(self.systemPromptUri)",
             "give systemPrompt or systemPromptUri, not both", lambda st: st.system_prompt is None or st.system_prompt_uri is None,
             ".systemPromptUri"),
    )
    model_config = ConfigDict(json_schema_extra=_cel(*rules))

    algorithm: Literal["grpo-code-temperature", "grpo-ats"] = Field(
        "grpo-code-temperature",
        description="the RL algorithm. grpo-code-temperature: GRPO (group-normalised advantages, clipped ratio, KL "
                    "to the reference) whose sampler switches to codeTemperature after <code> and back to "
                    "textTemperature after </code>; nothing else adapts. grpo-ats is the Thyme paper's name for the "
                    "same thing and is accepted as an alias.")
    splits: list[str] | None = Field(
        None, min_length=1, max_length=32,
        json_schema_extra={"items": {"type": "string", "maxLength": 63, "pattern": SPLIT_NAME}},
        description="SFT dataset splits to sample prompts from (ground truth: the response's <answer>); each must be "
                    "in spec.dataset.splits. Leave unset when spec.rlDataset is given: RL then reads its splits.")
    num_generations: int = Field(recipe.RL_NUM_GENERATIONS, ge=2, le=64, description="samples per prompt (the GRPO group size).")
    max_rounds: int = Field(recipe.RL_MAX_ROUNDS, ge=1, le=32, description="code/observation rounds per sample.")
    max_images: int = Field(recipe.RL_MAX_IMAGES, ge=1, le=64, description="images per trajectory, the input image included.")
    text_temperature: float = Field(recipe.RL_TEXT_TEMPERATURE, ge=0, le=2, description="sampling temperature outside <code>.")
    code_temperature: float = Field(recipe.RL_CODE_TEMPERATURE, ge=0, le=2, description="sampling temperature inside <code>.")
    top_p: float = Field(recipe.RL_TOP_P, gt=0, le=1, description="nucleus sampling outside <code>.")
    top_k: int = Field(recipe.RL_TOP_K, ge=0, le=100_000, description="top-k sampling outside <code>; 0 turns it off.")
    engine: Literal["auto", "transformers", "vllm"] = Field(
        "auto", description="generation engine of the trainer: auto picks vLLM where CUDA and vLLM are present, "
                            "else transformers.")
    freeze_vision: bool = Field(recipe.RL_FREEZE_VISION, description="keep the vision tower frozen (Thyme trains the merger only).")
    seed: int = Field(recipe.SEED, ge=0, le=2**31 - 1, description="seeds prompt order and sampling.")
    system_prompt: str | None = Field(
        None, max_length=32768,
        description="system turn of every prompt; unset: the stage's built-in prompt (the SFT stage's default); "
                    "empty: none. A policy must see the prompt it was trained with: with systemPromptUri on SFT, "
                    "give RL the same URI.")
    system_prompt_uri: str | None = Field(
        None, max_length=1024, pattern=S3_URI,
        description="s3:// URI of a UTF-8 text object whose content is the system prompt; read when the stage starts.")
    rewards: Rewards = Field(default_factory=Rewards, json_schema_extra=_default(Rewards), description="reward weights.")
    judge: JudgeSpec | None = Field(
        None, description="the LLM judge: an endpoint or a model to serve. Omitted, accuracy is rule-only "
                          "(answers no rule can decide score 0, consistency is not measured) and rl/manifest.json says so.")
    rollout: RolloutSpec = Field(default_factory=RolloutSpec, json_schema_extra=_default(RolloutSpec), description="rollout servers.")
    sandbox: SandboxSpec = Field(default_factory=SandboxSpec, json_schema_extra=_default(SandboxSpec), description="code sandboxes.")
    learning_rate: float = Field(recipe.RL_LEARNING_RATE, gt=0, le=1, description="learning rate.")
    kl_beta: float = Field(recipe.RL_KL_BETA, ge=0, le=10, description="weight of the KL penalty to the reference model.")
    clip_epsilon: float = Field(recipe.RL_CLIP_EPSILON, gt=0, lt=1, description="PPO-style ratio clip.")
    steps: int = Field(recipe.RL_STEPS, ge=1, le=10_000_000, description="optimizer steps.")
    batch_size: int = Field(recipe.RL_BATCH_SIZE, ge=1, le=4096, description="prompts per step.")
    max_new_tokens: int = Field(recipe.RL_MAX_NEW_TOKENS, ge=16, le=65536, description="token limit of one generation call.")
    save_steps: int = Field(recipe.RL_SAVE_STEPS, ge=1, le=1_000_000, description="checkpoint every this many steps.")
    gpus: int = Field(8, ge=1, le=16, description="GPUs of the trainer pod, one torchrun process each.")
    deepspeed: Literal["zero2", "zero3", "none"] = Field(
        recipe.RL_DEEPSPEED, description="DeepSpeed ZeRO stage of the policy update, or none (plain AdamW, gradients averaged over the processes).")
    resources: GPUPodResources = Field(
        default_factory=lambda: GPUPodResources(cpu="32", memory="512Gi"),
        json_schema_extra={"default": GPUPodResources(cpu="32", memory="512Gi").model_dump(by_alias=True)},
        description="trainer pod CPU, memory, scratch disk and /dev/shm.")
    retries: RetryPolicy = Field(default_factory=RetryPolicy, json_schema_extra=_default(RetryPolicy), description="retry policy of this stage.")
    timeouts: StageTimeouts = Field(default_factory=StageTimeouts, json_schema_extra=_default(StageTimeouts), description="deadline and pending timeout of this stage.")
    # Last in the class: the field's name would shadow the `recipe` defaults module above it.
    recipe: Literal["thyme", "deepeyes", "openthinkimg"] = Field(
        "thyme", description="thyme: Python in <code> run by the gVisor sandbox, Thyme's rewards (format, accuracy, "
                             "consistency). deepeyes: the image_zoom_in_tool called as <tool_call> JSON, DeepEyes' "
                             "reward (0.8 accuracy + 0.2 format + 1.2 tool). deepeyes needs no sandbox: the crop is "
                             "a few lines of Pillow on the trainer's own copy of the image, runs no model-written "
                             "code, and a network hop would cost more than the crop, so it runs in the trainer. openthinkimg: V-ToolRL, OpenThinkIMG's JSON tool "
                             "calls on spec.tools' servers, accuracy (+ format) rewards.")
    tool_bonus: Literal["when_correct", "always", "none"] = Field(
        "when_correct", description="deepeyes recipe: when the tool term counts; when_correct is the recipe's "
                                    "choice, always and none are the DeepEyes paper's ablations.")


class EvalBenchmark(ApiModel):
    """One benchmark in VLMEvalKit's TSV format; its name picks its columns and scorer."""

    name: Literal["VStarBench", "HRBench4K", "HRBench8K", "MME-RealWorld", "MME-RealWorld-Lite"] = Field(
        description="VStarBench, HRBench4K, HRBench8K, MME-RealWorld or MME-RealWorld-Lite.")
    tsv: str = Field(min_length=1, max_length=1024, pattern=r"^[^\s]+$",
                     description="the TSV: an s3:// URI, or a key under the run's store prefix.")
    limit: int | None = Field(None, ge=1, le=1_000_000, description="score only the first this many rows.")
    protocol: Literal["thyme", "deepeyes"] = Field(
        "thyme", description="thyme (code in a sandbox, VLMEvalKit's scoring) or deepeyes (VStarBench only: DeepEyes' "
                             "zoom-in tool and its own V* rules and judge prompt).")


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
    resources: GPUPodResources = Field(
        default_factory=lambda: GPUPodResources(cpu="8", memory="64Gi", scratch="100Gi"),
        json_schema_extra={"default": GPUPodResources(cpu="8", memory="64Gi", scratch="100Gi").model_dump(by_alias=True)},
        description="per-pod CPU, memory, scratch disk (the model being scored) and /dev/shm.")
    retries: RetryPolicy = Field(default_factory=RetryPolicy, json_schema_extra=_default(RetryPolicy), description="retry policy of this stage.")
    timeouts: StageTimeouts = Field(default_factory=StageTimeouts, json_schema_extra=_default(StageTimeouts), description="deadline and pending timeout of this stage.")


class Stages(ApiModel):
    """The stages to run, in the fixed order convert, sft, rl, eval. Leave one out to skip it
    (its inputs must then already be in the run's store). Immutable once set."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("has(self.convert) || has(self.sft) || has(self.rl) || has(self.eval)", "spec.stages must name at least one stage",
             lambda st: any(getattr(st, n) is not None for n in STAGE_ORDER)),
    )
    model_config = ConfigDict(json_schema_extra=_cel(*rules))

    convert: ConvertStage | None = Field(None, description="the convert stage.")
    sft: SFTStage | None = Field(None, description="the SFT stage.")
    rl: RLStage | None = Field(None, description="the RL stage.")
    eval: EvalStage | None = Field(None, description="the evaluation stage (after RL; alone, it scores models already in the store).")


class Images(ApiModel):
    """Container images of the stage pods."""

    jobs: str = Field("ghcr.io/thyme-k8s/jobs:0.1.0", min_length=1, max_length=512, description="CPU image with the thyme CLI (convert).")
    trainer: str = Field("ghcr.io/thyme-k8s/trainer:0.1.0", min_length=1, max_length=512, description="GPU image (sft, rl trainer, rollout, judge).")
    sandbox: str = Field("ghcr.io/thyme-k8s/sandbox:0.1.0", min_length=1, max_length=512, description="sandbox server image.")
    tools: str = Field("ghcr.io/thyme-k8s/tools:0.1.0", min_length=1, max_length=512,
                       description="CPU image of the tool servers (GPU tools run in the trainer image).")
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field("IfNotPresent", description="imagePullPolicy of every container.")



# --------------------------------------------------------------------------- tools

TOOL_NAMES: tuple[str, ...] = ("Crop", "DrawHorizontalLineByY", "DrawVerticalLineByX", "ZoomInSubfigure",
                               "grounding_dino", "SegmentRegionAroundPoint", "OCR", "Point")
"""OpenThinkIMG's tool names, as its prompts and `ToolManager` spell them."""

MODEL_TOOLS: tuple[str, ...] = ("grounding_dino", "SegmentRegionAroundPoint", "OCR", "Point")
"""The tools that load a model (and so need `model`)."""

ToolName = Literal["Crop", "DrawHorizontalLineByY", "DrawVerticalLineByX", "ZoomInSubfigure",
                   "grounding_dino", "SegmentRegionAroundPoint", "OCR", "Point"]


class SecretKeySelector(ApiModel):
    """One key of a Secret in the run's namespace."""

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN, description="name of the Secret.")
    key: str = Field(max_length=253, description="key within the Secret.")


class SubplotChooser(ApiModel):
    """An OpenAI-compatible vision endpoint that picks ZoomInSubfigure's subplot (OpenThinkIMG asks
    Gemini); without one the worker uses its documented position heuristic."""

    endpoint: str = Field(max_length=1024, pattern=r"^https?://[^\s]+$", description="base URL ending in /v1.")
    model: str = Field("default", max_length=253, description="model name sent in the chat request.")
    api_key_secret_ref: SecretKeySelector | None = Field(
        None, description="Secret key holding the endpoint's API key, if it needs one; never inline.")


class ToolServer(ApiModel):
    """One vision tool, served as a Deployment of `thyme tools serve` behind a Service of its own.

    Pods are Ready only once the tool's model has loaded; each answers at most
    `maxConcurrency` calls at once (503 past that) and cuts a call off after
    `callTimeoutSeconds`."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("!(self.name in " + str(list(MODEL_TOOLS)).replace("'", '"') + ") || has(self.model)",
             "tools grounding_dino, SegmentRegionAroundPoint, OCR and Point load a model: set model",
             lambda ts: ts.name not in MODEL_TOOLS or ts.model is not None, ".model"),
        Rule("!has(self.chooser) || self.name == 'ZoomInSubfigure'", "chooser applies to ZoomInSubfigure only",
             lambda ts: ts.chooser is None or ts.name == "ZoomInSubfigure", ".chooser"),
    )
    model_config = ConfigDict(json_schema_extra=_cel(*rules))

    name: ToolName = Field(description="the tool, by OpenThinkIMG's name.")
    model: str | None = Field(None, max_length=1024, pattern=S3_URI,
                              description="s3:// URI of the tool's HF model directory (model-backed tools only).")
    replicas: int = Field(1, ge=1, le=64, description="worker pods behind the tool's Service.")
    gpus: int = Field(0, ge=0, le=8, description="GPUs per pod; 0 runs the tool on CPU nodes.")
    cpu: str = Field("1", max_length=32, pattern=QUANTITY, description="CPU per pod.")
    memory: str = Field("2Gi", max_length=32, pattern=QUANTITY, description="memory per pod.")
    max_concurrency: int = Field(5, ge=1, le=1024, description="calls one pod serves at once; the next is answered 503.")
    call_timeout_seconds: int = Field(60, ge=1, le=3600, description="per-call limit; a call past it is answered with "
                                                                    "OpenThinkIMG's TIMEOUT_ERROR.")
    chooser: SubplotChooser | None = Field(None, description="ZoomInSubfigure only: who picks the subplot.")


class ToolsSpec(ApiModel):
    """Vision tool servers with OpenThinkIMG's worker API, up for as long as the run is running.

    Each tool is a Deployment + Service `<run>-tool-<short name>`; with `front`, a
    controller-compatible front `<run>-tools` answers OpenThinkIMG's `/list_models` and
    `/get_worker_address`, so its `ToolManager` and `tf_eval` work pointed at it."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("self.servers.all(a, self.servers.exists_one(b, b.name == a.name))", "each tool may be listed once",
             lambda t: len({s.name for s in t.servers}) == len(t.servers), ".servers"),
    )
    model_config = ConfigDict(json_schema_extra=_cel(*rules))

    servers: list[ToolServer] = Field(min_length=1, max_length=8, description="the tools to serve.")
    front: bool = Field(True, description="also serve the controller-compatible front.")
    port: int = Field(8080, ge=1024, le=65535, description="port of every tool pod and Service.")


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

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("self.storage == oldSelf.storage", "spec.storage is immutable", None, ".storage"),
        Rule("has(self.dataset) == has(oldSelf.dataset) && (!has(self.dataset) || self.dataset == oldSelf.dataset)",
             "spec.dataset is immutable", None, ".dataset"),
        Rule("has(self.rlDataset) == has(oldSelf.rlDataset) && "
             "(!has(self.rlDataset) || self.rlDataset == oldSelf.rlDataset)",
             "spec.rlDataset is immutable", None, ".rlDataset"),
        Rule("self.model == oldSelf.model", "spec.model is immutable", None, ".model"),
        Rule("self.stages == oldSelf.stages", "spec.stages is immutable; create a new ThymeRun to change stages",
             None, ".stages"),
        Rule("has(self.dataset) || has(self.rlDataset)", "spec.dataset or spec.rlDataset must be set",
             lambda sp: sp.dataset is not None or sp.rl_dataset is not None, ".dataset"),
        Rule("!has(self.stages.sft) || has(self.dataset)", "spec.stages.sft needs spec.dataset",
             lambda sp: sp.stages.sft is None or sp.dataset is not None, ".dataset"),
        Rule("!has(self.stages.sft) || !has(self.dataset) || "
             "self.stages.sft.phases.all(p, p.splits.all(s, s in self.dataset.splits))",
             "every split in spec.stages.sft.phases[].splits must be listed in spec.dataset.splits",
             lambda sp: sp.stages.sft is None or sp.dataset is None
             or all(s in sp.dataset.splits for p in sp.stages.sft.phases for s in p.splits), ".stages.sft.phases"),
        Rule("!has(self.stages.rl) || has(self.stages.rl.splits) != has(self.rlDataset)",
             "spec.stages.rl reads either spec.rlDataset (leave rl.splits unset) or rl.splits of spec.dataset",
             lambda sp: sp.stages.rl is None or (sp.stages.rl.splits is not None) != (sp.rl_dataset is not None),
             ".stages.rl.splits"),
        Rule("!has(self.stages.rl) || !has(self.stages.rl.splits) || "
             "(has(self.dataset) && self.stages.rl.splits.all(s, s in self.dataset.splits))",
             "every split in spec.stages.rl.splits must be listed in spec.dataset.splits",
             lambda sp: sp.stages.rl is None or sp.stages.rl.splits is None
             or (sp.dataset is not None and all(s in sp.dataset.splits for s in sp.stages.rl.splits)),
             ".stages.rl.splits"),
        Rule("has(self.tools) == has(oldSelf.tools) && (!has(self.tools) || self.tools == oldSelf.tools)",
             "spec.tools is immutable; create a new ThymeRun to change the tools", None, ".tools"),
        Rule("!has(self.stages.rl) || self.stages.rl.recipe != 'openthinkimg' || (has(self.tools) && self.tools.front)",
             "spec.stages.rl.recipe openthinkimg calls the tool servers: set spec.tools (with front: true)",
             lambda sp: sp.stages.rl is None or sp.stages.rl.recipe != "openthinkimg"
             or (sp.tools is not None and sp.tools.front), ".stages.rl.recipe"),
    )
    model_config = ConfigDict(json_schema_extra=_cel(*rules))

    storage: StorageSpec = Field(description="object storage for artifacts (immutable).")
    dataset: DatasetSpec | None = Field(None, description="the SFT source dataset (immutable); needed by sft.")
    rl_dataset: RLDatasetSpec | None = Field(
        None, description="an RL dataset beside the SFT one (immutable): convert converts it, rl samples its prompts.")
    model: ModelSpec = Field(description="base model (immutable).")
    stages: Stages = Field(description="stages to run (immutable).")
    images: Images = Field(default_factory=Images, json_schema_extra=_default(Images), description="container images.")
    scheduling: Scheduling = Field(default_factory=Scheduling, json_schema_extra=_default(Scheduling), description="scheduling of stage pods.")
    pod_metadata: PodMetadata = Field(default_factory=PodMetadata, json_schema_extra=_default(PodMetadata), description="extra pod labels and annotations.")
    tools: ToolsSpec | None = Field(None, description="vision tool servers (OpenThinkIMG's worker API), up while the "
                                                      "run is running (immutable).")
    suspend: bool = Field(
        False, description="true stops the active stage's pods (its workloads are deleted); false resumes the run "
                           "from the first unfinished stage without redoing finished ones.")

    def stage_names(self) -> list[str]:
        """Stages this run has, in run order."""
        return [s for s in STAGE_ORDER if getattr(self.stages, s) is not None]

    def retries(self, stage: str) -> RetryPolicy:
        return getattr(self.stages, stage).retries

    def timeouts(self, stage: str) -> StageTimeouts:
        return getattr(self.stages, stage).timeouts


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
    attempt_start_time: str | None = Field(
        None, json_schema_extra={"format": "date-time"},
        description="when the current attempt's workloads were first asked for (the pending timeout counts from here "
                    "until its Job exists).")
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

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(f"size(self.metadata.name) <= {names.MAX_RUN_NAME}",
             f"metadata.name must be at most {names.MAX_RUN_NAME} characters so that child names "
             f"<name>-<stage>-<attempt>-<index> fit a 63-character DNS label",
             lambda r: len(str(r.metadata.get("name", ""))) <= names.MAX_RUN_NAME),
        Rule(f"self.metadata.name.matches('{RFC1035}')",
             "metadata.name must be an RFC 1035 label (lower case letters, digits, '-', starting with a letter): "
             "it names Services",
             lambda r: re.fullmatch(RFC1035, str(r.metadata.get("name", ""))) is not None),
    )
    model_config = ConfigDict(json_schema_extra=_cel(*rules), extra="ignore")

    api_version: str = Field(API_VERSION, alias="apiVersion")
    kind: str = KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ThymeRunSpec
    status: ThymeRunStatus = Field(default_factory=ThymeRunStatus)
