"""Shared ThymeRun specs for the operator's unit tests."""

from __future__ import annotations

import copy
from typing import Any

from thyme_operator import api

BASE: dict[str, Any] = {
    "storage": {"endpoint": "minio.thyme.svc:9000", "bucket": "thyme", "secretRef": {"name": "s3-creds"}, "secure": False},
    "dataset": {"source": "s3://datasets/Thyme-SFT", "splits": ["general", "math"]},
    "model": {"base": "s3://models/Qwen2.5-VL-7B-Instruct"},
    "stages": {
        "convert": {"shards": 4, "retries": {"limit": 2, "backoffSeconds": 10, "maxBackoffSeconds": 30}},
        "sft": {"phases": [{"splits": ["general"], "learningRate": 1e-5, "epochs": 1},
                           {"splits": ["math"], "learningRate": 5e-6, "epochs": 2}], "nodes": 2, "gpusPerNode": 8},
        "rl": {"splits": ["math"], "judge": {"endpoint": "http://judge.example:8000/v1"}, "steps": 10},
    },
}


def spec_dict(**overrides: Any) -> dict[str, Any]:
    out = copy.deepcopy(BASE)
    for dotted, value in overrides.items():
        node = out
        *path, last = dotted.split("__")
        for part in path:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return out


def spec(**overrides: Any) -> api.ThymeRunSpec:
    return api.ThymeRunSpec.model_validate(spec_dict(**overrides))
