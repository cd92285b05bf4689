"""The operator's RBAC rules, as data: the chart renders them, the cluster tests apply
them and check with impersonation that the operator works with exactly these.

Least privilege: the operator never reads Secrets (pods get credentials through
secretKeyRef), never creates, changes or deletes Pods (Jobs and Deployments own them),
and needs no namespace or CRD listing because kopf's cluster scanning is disabled. It
watches Pods for one thing: a failed container's termination message, the program's
own reason for failing, which no Job condition carries (`kube.pod_failure`).
"""

from __future__ import annotations

from typing import Any

from thyme_operator import api

CHILD_VERBS = ["get", "list", "watch", "create", "delete"]

RULES: list[dict[str, Any]] = [
    {"apiGroups": [api.GROUP], "resources": [api.PLURAL], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [api.GROUP], "resources": [f"{api.PLURAL}/status"], "verbs": ["get", "patch"]},
    # ownerReferences with blockOwnerDeletion need update on the owner's finalizers
    # where the OwnerReferencesPermissionEnforcement admission plugin is on.
    {"apiGroups": [api.GROUP], "resources": [f"{api.PLURAL}/finalizers"], "verbs": ["update"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": CHILD_VERBS},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": CHILD_VERBS},
    {"apiGroups": [""], "resources": ["services"], "verbs": CHILD_VERBS},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": CHILD_VERBS},
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
]


def cluster_role(name: str = "thyme-operator") -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name}, "rules": RULES}


def cluster_role_binding(service_account: str, namespace: str, name: str = "thyme-operator") -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]}
