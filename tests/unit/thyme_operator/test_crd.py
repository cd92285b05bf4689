"""The committed CRD is exactly what the models generate, and it is structural."""

from __future__ import annotations

import yaml

from thyme_operator import api, crd, names


def test_committed_crd_matches_the_models():
    committed = crd.CRD_FILE.read_text()
    assert committed == crd.render(), "charts/thyme/crds/thymeruns.yaml is stale: run `thyme crd --write`"


def _nodes(node, path="$"):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.get("properties", {}).items():
            yield from _nodes(value, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            yield from _nodes(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            yield from _nodes(node["additionalProperties"], f"{path}{{}}")


def test_schema_is_structural_every_node_typed_no_refs_or_unions():
    schema = crd.openapi_schema()
    for path, node in _nodes(schema):
        assert "type" in node, f"{path} has no type"
        for banned in ("$ref", "anyOf", "oneOf", "allOf", "title", "const", "$defs"):
            assert banned not in node, f"{path} has {banned}"
        if "properties" in node:
            assert "additionalProperties" not in node, path
        for key in ("exclusiveMinimum", "exclusiveMaximum"):
            assert isinstance(node.get(key, True), bool), f"{path}.{key} must be boolean in OpenAPI v3.0"


def test_every_spec_field_is_documented_and_strings_and_lists_are_bounded():
    spec = crd.openapi_schema()["properties"]["spec"]
    for path, node in _nodes(spec):
        if path != "$":
            assert node.get("description") or path.endswith("[]") or path.endswith("}"), f"{path} lacks a description"
        if node["type"] == "string" and "enum" not in node and node.get("format") != "date-time":
            assert "maxLength" in node, f"{path} string is unbounded"
        if node["type"] == "array":
            assert "maxItems" in node, f"{path} list is unbounded"


def test_crd_has_status_subresource_columns_short_name_and_list_map_conditions():
    doc = yaml.safe_load(crd.render())
    version = doc["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"] if "priority" not in c] == ["Phase", "Stage", "Progress", "Eval", "Age"]
    assert doc["spec"]["names"]["shortNames"] == ["tr"]
    conds = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["conditions"]
    assert conds["x-kubernetes-list-type"] == "map" and conds["x-kubernetes-list-map-keys"] == ["type"]


def test_defaults_are_visible_in_the_schema():
    props = crd.openapi_schema()["properties"]["spec"]["properties"]
    assert props["suspend"]["default"] is False
    assert props["stages"]["properties"]["rl"]["properties"]["sandbox"]["properties"]["runtimeClassName"]["default"] == "gvisor"
    assert props["stages"]["properties"]["convert"]["properties"]["shards"]["default"] == 8


def test_name_rule_leaves_room_for_the_longest_child_name():
    longest = names.pod_hostname("x" * names.MAX_RUN_NAME, "convert", names.MAX_RETRIES + 1, names.MAX_SHARDS - 1)
    assert len(longest) == names.DNS_LABEL_MAX
    rules = [r["rule"] for r in crd.openapi_schema()["x-kubernetes-validations"]]
    assert f"size(self.metadata.name) <= {names.MAX_RUN_NAME}" in rules
    assert api.GROUP == "thyme.dev"


def test_thyme_crd_command_prints_the_generated_crd(capsys):
    from thyme_cli import main

    assert main.main(["crd"]) == 0
    assert capsys.readouterr().out == crd.render()


def _cel_rules(node) -> list[str]:
    if isinstance(node, dict):
        out = [r["rule"] for r in node.get("x-kubernetes-validations", [])]
        for value in node.values():
            out += _cel_rules(value)
        return out
    if isinstance(node, list):
        return [r for v in node for r in _cel_rules(v)]
    return []


def _models(cls=api.ApiModel):
    for sub in cls.__subclasses__():
        yield sub
        yield from _models(sub)


def test_every_cel_rule_of_the_crd_is_an_api_rule_the_local_loader_applies_too():
    in_crd = set(_cel_rules(crd.generate()))
    rules = {r.cel: r for model in _models() for r in model.rules}
    assert in_crd == set(rules), "a CEL rule outside api.Rule would be checked by the cluster only"
    for cel, rule in rules.items():
        assert (rule.check is None) == ("oldSelf" in cel), cel
