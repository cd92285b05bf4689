"""Generate the ThymeRun CustomResourceDefinition from the pydantic models in `api.py`.

The API server wants a *structural* schema (every node typed, no `$ref`, no `anyOf`
around a type, no `additionalProperties` beside `properties`), in OpenAPI v3.0 terms
(`exclusiveMinimum` is a boolean there). pydantic emits JSON Schema 2020-12, so this
module rewrites one into the other. Nobody edits the YAML in `charts/thyme/crds/` by
hand; `tests/unit/thyme_operator/test_crd.py` fails when it differs from `generate()`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from thyme_operator import api

CRD_FILE = Path(__file__).resolve().parents[2] / "charts" / "thyme" / "crds" / "thymeruns.yaml"

_DROP = {"title", "$defs", "discriminator"}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Inline refs, fold Optional[X] into X, translate 2020-12 bounds to OpenAPI v3.0."""
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = copy.deepcopy(defs[node.pop("$ref").split("/")[-1]])
        # Keys next to the ref (description, default, CEL) win over the target's.
        node = {**target, **node}
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"only Optional[X] unions are supported, got {options}")
        inner = options[0]
        if "$ref" in inner:
            inner = {**copy.deepcopy(defs[inner["$ref"].split("/")[-1]])}
        merged_rules = inner.get("x-kubernetes-validations", []) + node.get("x-kubernetes-validations", [])
        node = {**inner, **node}
        if merged_rules:
            node["x-kubernetes-validations"] = merged_rules
        if node.get("default", "absent") is None:
            node.pop("default")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if key in node and not isinstance(node[key], bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            node[bound] = node.pop(key)
            node[key] = True
    if node.get("type") == "object" and "properties" in node:
        node.pop("additionalProperties", None)
    if "items" in node and isinstance(node["items"], dict):
        # json_schema_extra may add item bounds beside pydantic's own item schema.
        node["items"] = _structural(node["items"], defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _structural(v, defs) for name, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _structural(value, defs)
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def _merge_items_extra(schema: dict[str, Any]) -> None:
    """pydantic puts json_schema_extra's `items` over its own; keep the item type."""
    for node in _walk(schema):
        items = node.get("items")
        if node.get("type") == "array" and isinstance(items, dict) and "type" not in items and "$ref" not in items:
            items.setdefault("type", "string")


def _walk(node: Any):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def openapi_schema() -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a ThymeRun object."""
    raw = api.ThymeRun.model_json_schema(by_alias=True, mode="validation")
    _merge_items_extra(raw)
    defs = raw.get("$defs", {})
    root = _structural(raw, defs)
    props = root["properties"]
    props["apiVersion"] = {"type": "string", "description": "APIVersion of the object."}
    props["kind"] = {"type": "string", "description": "Kind of the object."}
    props["metadata"] = {"type": "object"}
    props["status"].pop("default", None)
    # kopf keeps its own bookkeeping in annotations; status fields we do not model
    # (a future version's) must survive a downgrade instead of being pruned.
    root["required"] = ["spec"]
    return root


def generate() -> dict[str, Any]:
    """The whole CustomResourceDefinition object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{api.PLURAL}.{api.GROUP}",
            "labels": {"app.kubernetes.io/name": "thyme", "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": api.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": api.KIND,
                "listKind": f"{api.KIND}List",
                "plural": api.PLURAL,
                "singular": api.SINGULAR,
                "shortNames": api.SHORT_NAMES,
                "categories": api.CATEGORIES,
            },
            "versions": [{
                "name": api.VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Stage", "type": "string", "jsonPath": ".status.currentStage"},
                    {"name": "Progress", "type": "string", "jsonPath": ".status.progress"},
                    {"name": "Eval", "type": "string", "jsonPath": ".status.stages.eval.message"},
                    {"name": "Suspended", "type": "boolean", "jsonPath": ".spec.suspend", "priority": 1},
                    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                     "priority": 1},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {"openAPIV3Schema": openapi_schema()},
            }],
        },
    }


def render() -> str:
    header = ("# Generated by `thyme crd` from operator/thyme_operator/api.py. Do not edit:\n"
              "# change the models and regenerate (tests/unit/thyme_operator/test_crd.py checks).\n")
    return header + yaml.safe_dump(generate(), sort_keys=False, width=120)


def write(path: Path = CRD_FILE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    return path
