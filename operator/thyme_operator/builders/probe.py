"""The manifest probe: an Indexed Job whose pod i exits 0 when the run's i-th stage has
its manifest in the store.

A re-applied run whose stages are already committed must skip them in the cluster as
`thyme run` does locally, and the planner decides that from the set of committed
stages. The operator cannot read the store itself: it holds no S3 credentials and its
RBAC cannot read Secrets (README, "Security"), which is what people installing an
operator expect of it. So it asks the store the way every stage does, from a pod that
gets the run's Secret through secretKeyRef, and reads the answer off the Job's status
(`completedIndexes`), which its RBAC already allows. A failed index (manifest absent,
or the store unreachable) means "not known to be committed": the stage then runs, and
its program, finding its manifest after all, exits at once. The probe can therefore
only save work, never skip a stage that is not done.

`backoffLimitPerIndex: 0`: an index that fails is final, so the answer comes in
seconds instead of after retries.
"""

from __future__ import annotations

from typing import Any

from thyme_operator import api, names
from thyme_operator.builders import meta, pods

DEADLINE_SECONDS = 600


def manifest_probe(spec: api.ThymeRunSpec, owner: meta.Owner, config: dict[str, Any]) -> dict[str, Any]:
    count = len(config["manifests"])
    labels = {**names.run_labels(owner.name), names.LABEL_COMPONENT: names.COMPONENT_MANIFEST_PROBE}
    container = {
        "name": "probe", "image": spec.images.jobs, "imagePullPolicy": spec.images.pull_policy,
        "command": ["thyme", "manifest-probe"],
        "env": [pods.config_env(config), *pods.storage_env(spec)],
        "resources": pods.resources("100m", "256Mi"),
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": meta.object_meta(names.manifest_probe(owner.name), owner, labels),
        "spec": {
            "completionMode": "Indexed", "completions": count, "parallelism": count,
            "backoffLimitPerIndex": 0, "activeDeadlineSeconds": DEADLINE_SECONDS,
            "template": {
                "metadata": {"labels": pods.pod_labels(spec, labels), "annotations": pods.pod_annotations(spec)},
                "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                         "containers": [container], **pods.scheduling(spec, gpu=False)},
            },
        },
    }
