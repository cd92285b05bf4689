"""The operator's RBAC rules, as data: the chart renders them, the cluster tests apply
them and check with impersonation that the operator works with exactly these.

Least privilege: the operator never reads Secrets (pods get credentials through
secretKeyRef), never touches Pods (Jobs and Deployments own them), and needs no
namespace or CRD listing because kopf's cluster scanning is disabled.

Scope: an operator that watches the whole cluster gets the rules in a ClusterRole. One
that watches only some namespaces (`--namespace`, the chart's `operator.namespaces`)
gets them in a Role in each of those namespaces and nothing cluster-wide, so it cannot
create a Job or a Deployment anywhere else, even if it were compromised.
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
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": CHILD_VERBS},
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
]


_RBAC = "rbac.authorization.k8s.io/v1"


def role(namespace: str, name: str = "thyme-operator") -> dict[str, Any]:
    """The same rules, valid in one namespace only."""
    return {"apiVersion": _RBAC, "kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": RULES}


def role_binding(service_account: str, sa_namespace: str, namespace: str, name: str = "thyme-operator") -> dict[str, Any]:
    return {"apiVersion": _RBAC, "kind": "RoleBinding", "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": sa_namespace}]}


def for_namespaces(service_account: str, sa_namespace: str, namespaces: list[str],
                   name: str = "thyme-operator") -> list[dict[str, Any]]:
    """What to apply for an operator watching `namespaces` (all of the cluster when empty)."""
    if not namespaces:
        return [cluster_role(name), cluster_role_binding(service_account, sa_namespace, name)]
    out: list[dict[str, Any]] = []
    for ns in namespaces:
        out += [role(ns, name), role_binding(service_account, sa_namespace, ns, name)]
    return out


def cluster_role(name: str = "thyme-operator") -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name}, "rules": RULES}


def cluster_role_binding(service_account: str, namespace: str, name: str = "thyme-operator") -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]}
