"""Object metadata shared by every child: name, namespace, labels, owner reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from thyme_operator import api


@dataclass(frozen=True)
class Owner:
    """The ThymeRun that owns a child. The garbage collector deletes children whose
    controller owner is gone, which is how deleting a run cleans up."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {"apiVersion": api.API_VERSION, "kind": api.KIND, "name": self.name, "uid": self.uid,
                "controller": True, "blockOwnerDeletion": True}


def object_meta(name: str, owner: Owner, labels: dict[str, str],
                annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": owner.namespace, "labels": dict(labels),
                            "ownerReferences": [owner.reference()]}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta
