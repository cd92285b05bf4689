"""The operator's ServiceAccount holds exactly the verbs it needs (thyme_operator.rbac),
checked with impersonation. The lifecycle tests run the operator with this account's
token, which shows the rules suffice; this file shows they do not over-grant."""

from __future__ import annotations

import pytest


ALLOWED = [
    ("create", "jobs.batch"), ("delete", "jobs.batch"), ("watch", "jobs.batch"),
    ("create", "deployments.apps"), ("create", "services"), ("create", "networkpolicies.networking.k8s.io"),
    ("patch", "thymeruns.thyme.dev"), ("watch", "thymeruns.thyme.dev"),
    ("patch", "thymeruns.thyme.dev/status"), ("create", "events"),
]
DENIED = [
    ("get", "secrets"), ("list", "secrets"), ("create", "pods"), ("delete", "pods"), ("exec", "pods"),
    ("create", "thymeruns.thyme.dev"), ("delete", "thymeruns.thyme.dev"), ("update", "jobs.batch"),
    ("create", "roles.rbac.authorization.k8s.io"), ("create", "serviceaccounts"), ("delete", "namespaces"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"), ("list", "nodes"),
]


def _can_i(cluster, verb: str, resource: str, namespace: str) -> bool:
    user = "system:serviceaccount:thyme-system:thyme-operator"
    if "/" in resource:
        resource, sub = resource.split("/")
        args = [verb, resource, f"--subresource={sub}"]
    else:
        args = [verb, resource]
    out = cluster.kubectl("auth", "can-i", *args, "-n", namespace, f"--as={user}", check=False).strip()
    return out == "yes"


@pytest.mark.parametrize("verb,resource", ALLOWED, ids=[f"{v} {r}" for v, r in ALLOWED])
def test_operator_may(operator_kubeconfig, thyme_crd, namespace, verb, resource):
    assert _can_i(thyme_crd, verb, resource, namespace)


@pytest.mark.parametrize("verb,resource", DENIED, ids=[f"{v} {r}" for v, r in DENIED])
def test_operator_may_not(operator_kubeconfig, thyme_crd, namespace, verb, resource):
    assert not _can_i(thyme_crd, verb, resource, namespace)


def test_an_operator_limited_to_namespaces_may_create_workloads_only_there(operator_kubeconfig, thyme_crd, namespace):
    import yaml

    from thyme_operator import rbac

    account = "thyme-operator-scoped"
    docs = rbac.for_namespaces(account, "thyme-system", [namespace], name="thyme-operator-scoped")
    assert {d["kind"] for d in docs} == {"Role", "RoleBinding"}
    thyme_crd.kubectl("apply", "-f", "-", input="\n---\n".join(yaml.safe_dump(d) for d in docs))
    user = f"system:serviceaccount:thyme-system:{account}"

    def can(verb: str, resource: str, ns: str) -> bool:
        return thyme_crd.kubectl("auth", "can-i", verb, resource, "-n", ns, f"--as={user}", check=False).strip() == "yes"

    assert can("create", "jobs.batch", namespace) and can("create", "deployments.apps", namespace)
    assert can("patch", "thymeruns.thyme.dev", namespace)
    for other in ("default", "kube-system"):
        assert not can("create", "jobs.batch", other) and not can("create", "deployments.apps", other)
    assert not can("get", "secrets", namespace)
