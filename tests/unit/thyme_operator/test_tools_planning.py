"""spec.tools: the planner keeps a Deployment + Service per tool (and the front) up while the
run is Running, creates them before the stage's own children, and deletes them when the run
is suspended or done. The builders give each tool readiness, resources and its settings."""

from __future__ import annotations

import datetime as dt

import pydantic
import pytest

from thyme_operator import api, names, planner
from thyme_operator.builders import meta, tools
from thyme_operator.planner import ObservedChild as C

from .fixtures import spec

T0 = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
TOOLS = {"servers": [{"name": "Crop"},
                     {"name": "grounding_dino", "model": "s3://models/gdino", "gpus": 1, "replicas": 2},
                     {"name": "ZoomInSubfigure", "chooser": {"endpoint": "http://vlm:8000/v1", "model": "qwen",
                                                             "apiKeySecretRef": {"name": "vlm", "key": "token"}}}]}
OWNER = meta.Owner("demo", "ml", "uid-1")


def run(status: dict | None = None, **overrides) -> planner.RunView:
    return planner.RunView("demo", "ml", "uid-1", 1, spec(tools=TOOLS, **overrides),
                           api.ThymeRunStatus.model_validate(status or {}))


def created(p: planner.Plan) -> list[str]:
    return [f"{c['kind']}/{c['metadata']['name']}" for c in p.create]


def by_name(children: list[dict]) -> dict[str, dict]:
    return {f"{c['kind']}/{c['metadata']['name']}": c for c in children}


def test_a_starting_run_creates_every_tool_and_the_front_before_its_first_job():
    p = planner.plan(run(), [], frozenset(), T0)
    assert created(p) == [
        "Service/demo-tool-crop", "Deployment/demo-tool-crop",
        "Service/demo-tool-gdino", "Deployment/demo-tool-gdino",
        "Service/demo-tool-zoom", "Deployment/demo-tool-zoom",
        "Service/demo-tools", "Deployment/demo-tools",
        "Job/demo-convert-1"]


def test_existing_tools_are_not_created_again_and_a_missing_one_is():
    observed = [C(c["kind"], c["metadata"]["name"]) for c in tools.children(spec(tools=TOOLS), OWNER)
                if c["metadata"]["name"] != "demo-tool-crop"]
    p = planner.plan(run({"stages": {"convert": {"state": "Running", "attempts": 1}}}),
                     [*observed, C("Job", "demo-convert-1", "convert", 1, "Active")], frozenset(), T0)
    assert created(p) == ["Service/demo-tool-crop", "Deployment/demo-tool-crop"]


@pytest.mark.parametrize("status, overrides, observed_job", [
    ({"stages": {"convert": {"state": "Running", "attempts": 1}}}, {"suspend": True}, None),
    ({"stages": {s: {"state": "Succeeded", "attempts": 1} for s in ("convert", "sft")} | {"rl": {"state": "Running", "attempts": 1}}},
     {}, C("Job", "demo-rl-1", "rl", 1, "Succeeded", "2026-01-01T11:00:00Z")),
], ids=["suspended", "succeeded"])
def test_tools_are_deleted_when_the_run_stops_running(status, overrides, observed_job):
    children = [C(c["kind"], c["metadata"]["name"]) for c in tools.children(spec(tools=TOOLS), OWNER)]
    observed = children + ([observed_job] if observed_job else [])
    p = planner.plan(run(status, **overrides), observed, frozenset(), T0)
    assert {(c.kind, c.name) for c in children} <= set(p.delete)
    assert not any(c["metadata"]["name"].startswith("demo-tool") for c in p.create)


def test_a_run_without_tools_plans_none():
    p = planner.plan(planner.RunView("demo", "ml", "uid-1", 1, spec(), api.ThymeRunStatus()), [], frozenset(), T0)
    assert created(p) == ["Job/demo-convert-1"]


def test_a_tool_deployment_has_readiness_resources_and_its_settings():
    children = by_name(tools.children(spec(tools=TOOLS), OWNER))
    gdino = children["Deployment/demo-tool-gdino"]
    pod = gdino["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert gdino["spec"]["replicas"] == 2
    assert container["image"] == api.Images().trainer  # a GPU tool runs in the trainer image
    assert container["command"][:3] == ["thyme", "tools", "serve"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert env["THYME_TOOLS_TOOL"] == "grounding_dino" and env["THYME_TOOLS_MODEL"] == "s3://models/gdino"
    assert env["THYME_TOOLS_DEVICE"] == "cuda" and "AWS_ACCESS_KEY_ID" in env  # weights come from the store
    assert pod["automountServiceAccountToken"] is False

    crop = children["Deployment/demo-tool-crop"]["spec"]["template"]["spec"]["containers"][0]
    assert crop["image"] == api.Images().tools and "nvidia.com/gpu" not in crop["resources"]["limits"]
    assert not any(e["name"] == "AWS_ACCESS_KEY_ID" for e in crop["env"])  # a CPU tool needs no credentials

    zoom_env = {e["name"]: e for e in children["Deployment/demo-tool-zoom"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert zoom_env["THYME_TOOLS_CHOOSER_ENDPOINT"]["value"] == "http://vlm:8000/v1"
    assert zoom_env[tools.CHOOSER_KEY_ENV]["valueFrom"] == {"secretKeyRef": {"name": "vlm", "key": "token"}}
    assert zoom_env["THYME_TOOLS_CHOOSER_API_KEY_ENV"]["value"] == tools.CHOOSER_KEY_ENV


def test_each_service_selects_its_own_tool_pods_and_the_front_knows_every_service():
    children = by_name(tools.children(spec(tools=TOOLS), OWNER))
    for short in ("crop", "gdino", "zoom"):
        svc, dep = children[f"Service/demo-tool-{short}"], children[f"Deployment/demo-tool-{short}"]
        assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
        assert svc["spec"]["selector"][names.LABEL_TOOL] == short
        assert dep["spec"]["template"]["metadata"]["labels"][names.LABEL_RUN] == "demo"
    front = children["Deployment/demo-tools"]["spec"]["template"]["spec"]["containers"][0]
    workers = dict(pair.split("=", 1) for pair in front["env"][0]["value"].split(","))
    assert workers == {"Crop": "http://demo-tool-crop.ml.svc:8080", "grounding_dino": "http://demo-tool-gdino.ml.svc:8080",
                       "ZoomInSubfigure": "http://demo-tool-zoom.ml.svc:8080"}


@pytest.mark.parametrize("tools_spec, error", [
    ({"servers": [{"name": "Magnify"}]}, "name"),
    ({"servers": []}, "servers"),
    ({"servers": [{"name": "Crop", "maxConcurrency": 0}]}, "maxConcurrency"),
    ({"servers": [{"name": "OCR"}]}, "load a model: set model"),
    ({"servers": [{"name": "Crop"}, {"name": "Crop"}]}, "once"),
])
def test_bad_tool_specs_are_refused_naming_the_field(tools_spec, error):
    with pytest.raises(pydantic.ValidationError, match=error):
        spec(tools=tools_spec)


def test_every_tool_name_fits_a_dns_label_for_the_longest_run_name():
    longest = "r" * names.MAX_RUN_NAME
    assert set(names.TOOL_SHORT_NAMES) == set(api.TOOL_NAMES)
    for tool in api.TOOL_NAMES:
        assert len(names.tool(longest, tool)) <= names.DNS_LABEL_MAX
    assert len(names.tools_front(longest)) <= names.DNS_LABEL_MAX


def test_the_openthinkimg_recipe_gets_the_front_url_and_no_code_sandbox():
    from thyme_operator import stage_configs
    from thyme_operator.builders import stages

    recipe = spec(tools=TOOLS, stages__rl__recipe="openthinkimg")
    config = stage_configs.stage_config(recipe, "ml", "demo", "rl")
    assert config["recipe"] == "openthinkimg" and config["tools_url"] == "http://demo-tools.ml.svc:8080"
    assert config.get("sandbox_url") is None
    kinds = {(c["kind"], c["metadata"]["name"]) for c in stages.workloads(recipe, OWNER, "rl", 1)}
    assert ("Deployment", "demo-rl-sandbox") not in kinds and ("Job", "demo-rl-1") in kinds
    thyme = stage_configs.stage_config(spec(tools=TOOLS), "ml", "demo", "rl")
    assert thyme["recipe"] == "thyme" and "tools_url" not in thyme and thyme["sandbox_url"]
