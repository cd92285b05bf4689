"""The committed field reference is the one the API models generate."""

from thyme_operator import reference


def test_committed_reference_matches_the_models():
    assert reference.REFERENCE_FILE.read_text() == reference.render(), (
        "docs/thymerun-reference.md is stale: run `thyme crd --reference --write`")


def test_reference_lists_every_stage_and_the_cel_rules():
    text = reference.render()
    for field in ("spec.stages.convert.shards", "spec.stages.sft.phases[].learningRate",
                  "spec.stages.rl.judge.endpoint", "spec.suspend"):
        assert f"| `{field}` |" in text, field
    assert "## Rules" in text and "exactly one of judge.endpoint and judge.model" in text
