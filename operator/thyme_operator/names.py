"""Names and labels of a run's children, from one place.

Every child name is derived from the run's name, so a re-delivered event or a restarted
operator computes the same name and never makes a duplicate (the API server answers
409 instead). The longest name a run can produce is known from the API's bounds, so the
CRD checks `metadata.name` against it at admission rather than letting a create fail
half-way through a pipeline (JobSet does the same in its webhook).
"""

from __future__ import annotations

DNS_LABEL_MAX = 63

MAX_RETRIES = 10          # spec.stages.*.retries.limit upper bound
MAX_SHARDS = 256          # spec.stages.convert.shards upper bound
MAX_NODES = 64            # spec.stages.sft.nodes upper bound

LABEL_RUN = "thyme.dev/run"
LABEL_STAGE = "thyme.dev/stage"
LABEL_ATTEMPT = "thyme.dev/attempt"
LABEL_COMPONENT = "thyme.dev/component"
COMPONENT_MANIFEST_PROBE = "manifest-probe"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "thyme-operator"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"

# The longest suffix any child (or the hostname of an Indexed Job's pod) adds to the run
# name: "-convert-<attempt>-<index>", with the attempt and index at their bounds.
_LONGEST_SUFFIX = len("-convert-") + len(str(MAX_RETRIES + 1)) + 1 + len(str(MAX_SHARDS - 1))
MAX_RUN_NAME = DNS_LABEL_MAX - _LONGEST_SUFFIX


def job(run: str, stage: str, attempt: int) -> str:
    """The stage's Job for one attempt: `<run>-<stage>-<attempt>`."""
    return f"{run}-{stage}-{attempt}"


def pod_hostname(run: str, stage: str, attempt: int, index: int) -> str:
    """Hostname the Job controller gives pod `index` of an Indexed Job."""
    return f"{job(run, stage, attempt)}-{index}"


def sft_service(run: str) -> str:
    """Headless Service giving SFT pods stable DNS names for torchrun rendezvous."""
    return f"{run}-sft"


def rl_part(run: str, part: str) -> str:
    """Long-running RL workloads (rollout, sandbox, judge) and their Services."""
    return stage_part(run, "rl", part)


def stage_part(run: str, stage: str, part: str) -> str:
    """A stage's long-running workload (the RL and eval sandboxes, rollout, judge) and its Service."""
    return f"{run}-{stage}-{part}"


def sandbox_policy(run: str, stage: str = "rl") -> str:
    return f"{run}-{stage}-sandbox-deny-egress"


def manifest_probe(run: str) -> str:
    """The Indexed Job that tells the operator which stages are already committed in the
    store; its pods' hostnames `<run>-probe-<index>` are shorter than a stage's."""
    return f"{run}-probe"


# Short names of the tools in their children's names: OpenThinkIMG's own names (up to 24
# characters, with capitals and "_") are not DNS labels, and "<run>-tool-<short>" must fit
# 63 characters for every run name the CRD admits (the longest suffix is "-tool-point").
TOOL_SHORT_NAMES = {
    "Crop": "crop", "DrawHorizontalLineByY": "hline", "DrawVerticalLineByX": "vline", "ZoomInSubfigure": "zoom",
    "grounding_dino": "gdino", "SegmentRegionAroundPoint": "sam", "OCR": "ocr", "Point": "point",
}
LABEL_TOOL = "thyme.dev/tool"


def tool(run: str, tool_name: str) -> str:
    """A tool's Deployment and Service: `<run>-tool-<short name>`."""
    return f"{run}-tool-{TOOL_SHORT_NAMES[tool_name]}"


def tools_front(run: str) -> str:
    """The controller-compatible front over the run's tools: `<run>-tools`."""
    return f"{run}-tools"


def run_labels(run: str) -> dict[str, str]:
    return {LABEL_RUN: run, LABEL_MANAGED_BY: MANAGER}


def stage_labels(run: str, stage: str, attempt: int | None = None) -> dict[str, str]:
    labels = {**run_labels(run), LABEL_STAGE: stage}
    if attempt is not None:
        labels[LABEL_ATTEMPT] = str(attempt)
    return labels
