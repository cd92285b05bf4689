"""A re-applied run whose stages are committed in the store is skipped in the cluster
as `thyme run` skips it locally: the operator's manifest probe Job reads the store
with the run's Secret and the planner skips the committed stages without a pod each.
(kwok's probe pods find every manifest when annotated `thyme.test/committed`.)"""

from __future__ import annotations

import uuid


def _events(cluster, namespace: str, name: str) -> list[str]:
    items = cluster.get_json("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")["items"]
    return [e["reason"] for e in items]


def test_a_rerun_with_every_stage_committed_succeeds_without_starting_a_stage(thyme, thyme_operator, namespace):
    name = f"rerun-{uuid.uuid4().hex[:5]}"
    manifest = thyme.run_manifest(name, namespace)
    manifest["spec"]["podMetadata"] = {"annotations": {"thyme.test/committed": "true"}}
    thyme.apply(manifest)
    run = thyme.wait_phase(namespace, name, "Succeeded", timeout=60, op=thyme_operator)
    assert {s: v["message"] for s, v in run["status"]["stages"].items()} == {
        s: "manifest already in the store; skipped" for s in ("convert", "sft", "rl")}
    assert thyme.children(namespace, name) == []            # no stage Job, no server
    (probe,) = thyme.children(namespace, name, "jobs", probe=True)
    assert probe["metadata"]["name"] == f"{name}-probe" and probe["spec"]["completions"] == 3
    assert probe["status"]["completedIndexes"] == "0-2"
    assert "ManifestFound" in _events(thyme.cluster, namespace, name)


def test_a_new_run_runs_its_stages_after_the_probe_finds_nothing(thyme, thyme_operator, namespace):
    name = f"fresh-{uuid.uuid4().hex[:5]}"
    manifest = thyme.run_manifest(name, namespace, stages={"convert": {"shards": 1}})
    manifest["spec"]["dataset"]["splits"] = ["general"]
    thyme.apply(manifest)
    run = thyme.wait_phase(namespace, name, "Succeeded", timeout=60, op=thyme_operator)
    assert run["status"]["stages"]["convert"]["attempts"] == 1
    assert thyme.job_names(namespace, name) == [f"{name}-convert-1"]
    (probe,) = [j for j in thyme.children(namespace, name, "jobs", probe=True) if j["metadata"]["name"] == f"{name}-probe"]
    assert not probe["status"].get("completedIndexes") and probe["status"].get("failedIndexes") == "0"
