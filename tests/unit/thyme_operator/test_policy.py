"""The operator's image allow-list: a run naming an image outside it gets no children
and a Failed condition naming the field and the image; fixing the spec lets it run."""

from __future__ import annotations

import datetime as dt

from thyme_operator import api, conditions, planner, policy

from .fixtures import spec

T0 = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
TRUSTED = policy.Policy(("registry.example.com/thyme/",))
GOOD = {"jobs": "registry.example.com/thyme/jobs:1", "trainer": "registry.example.com/thyme/trainer:1",
        "sandbox": "registry.example.com/thyme/sandbox:1"}


def _plan(images: dict, status: dict | None = None) -> planner.Plan:
    view = planner.RunView("demo", "ml", "uid-1", 1, spec(images=images), api.ThymeRunStatus.model_validate(status or {}))
    return planner.plan(view, [], frozenset(), T0, TRUSTED)


def test_a_run_naming_an_image_outside_the_allow_list_gets_nothing_and_a_condition_naming_the_image():
    p = _plan({**GOOD, "sandbox": "docker.io/someone/sandbox:latest"})
    assert p.create == [] and p.status["phase"] == "Failed"
    failed = conditions.get(p.status["conditions"], conditions.FAILED)
    assert failed["reason"] == conditions.REASON_IMAGE_NOT_ALLOWED
    assert "spec.images.sandbox 'docker.io/someone/sandbox:latest'" in failed["message"]
    assert "registry.example.com/thyme/" in failed["message"]
    assert [e.reason for e in p.events if e.type == "Warning"] == [conditions.REASON_IMAGE_NOT_ALLOWED]


def test_fixing_the_images_lets_the_refused_run_start():
    refused = _plan({**GOOD, "trainer": "evil.example/trainer:1"})
    p = _plan(GOOD, refused.status)
    assert [c["metadata"]["name"] for c in p.create] == ["demo-convert-1"]
    assert p.status["phase"] == "Running"


def test_only_the_images_of_the_runs_stages_are_checked_and_no_list_allows_everything():
    convert_only = spec(stages={"convert": {"shards": 1}}, images={"jobs": GOOD["jobs"]})
    assert TRUSTED.refused_images(convert_only) == []       # default trainer/sandbox images are not used
    assert policy.Policy().refused_images(spec(images={"jobs": "anything:1"})) == []


def test_prefixes_come_from_the_environment_comma_or_space_separated():
    got = policy.from_environment({policy.ENV_ALLOWED_IMAGE_PREFIXES: "a.io/x/, b.io/y/ c.io/"})
    assert got.allowed_image_prefixes == ("a.io/x/", "b.io/y/", "c.io/")
    assert policy.from_environment({}).allowed_image_prefixes == ()
