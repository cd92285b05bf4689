"""The Helm chart lints, renders, and agrees with the code it packages: the RBAC it
grants is exactly `thyme_operator.rbac.RULES`, its CRD is the generated one, and its
values schema rejects a typo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from testenv import binaries
from thyme_operator import crd, rbac

CHART = Path(__file__).resolve().parents[3] / "charts" / "thyme"
KUBE_VERSION = "1.36.3"


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(binaries.binary("helm")), *args], capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stderr}")
    return done


def render(*sets: str) -> list[dict]:
    argv = ["template", "thyme", str(CHART), "--namespace", "thyme-system", "--kube-version", KUBE_VERSION]
    for s in sets:
        argv += ["--set", s]
    return [d for d in yaml.safe_load_all(helm(*argv).stdout) if d]


def test_chart_lints_clean():
    done = helm("lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION)
    assert "0 chart(s) failed" in done.stdout


def test_cluster_role_grants_exactly_the_operators_rules():
    role = next(d for d in render() if d["kind"] == "ClusterRole")
    assert role["rules"] == rbac.RULES


def test_chart_crd_is_the_generated_one():
    assert (CHART / "crds" / "thymeruns.yaml").read_text() == crd.render()


def test_operator_runs_one_replica_with_recreate_and_probes():
    deploy = next(d for d in render() if d["kind"] == "Deployment")
    assert deploy["spec"]["replicas"] == 1
    assert deploy["spec"]["strategy"]["type"] == "Recreate"
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"] and container["resources"]["limits"]["memory"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_optional_parts_render_only_when_enabled():
    kinds = {d["kind"] for d in render()}
    assert "StatefulSet" not in kinds and "RuntimeClass" not in kinds
    kinds = {d["kind"] for d in render("minio.enabled=true", "gvisor.createRuntimeClass=true")}
    assert {"StatefulSet", "RuntimeClass", "Secret"} <= kinds


def test_sandbox_pods_get_a_default_deny_egress_policy():
    policy = next(d for d in render() if d["kind"] == "NetworkPolicy")
    assert policy["spec"]["egress"] == [] and "Egress" in policy["spec"]["policyTypes"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {"thyme.dev/component": "sandbox"}


def test_a_helm_test_hook_checks_the_operator():
    hooks = [d for d in render() if d.get("metadata", {}).get("annotations", {}).get("helm.sh/hook") == "test"]
    assert len(hooks) == 1 and hooks[0]["kind"] == "Pod"


@pytest.mark.parametrize("bad", ["operator.replicas=2", "operator.metricsPort=80", "minio.rootPassword=short"])
def test_values_schema_rejects_bad_values(bad):
    done = helm("template", "thyme", str(CHART), "--kube-version", KUBE_VERSION, "--set", bad, check=False)
    assert done.returncode != 0 and "values don't meet the specifications" in done.stderr


def test_with_namespaces_set_the_operator_gets_roles_there_and_nothing_cluster_wide():
    docs = render("operator.namespaces={team-a,team-b}")
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    roles = {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "Role"}
    assert set(roles) == {"team-a", "team-b"} and all(r["rules"] == rbac.RULES for r in roles.values())
    bindings = {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "RoleBinding"}
    assert set(bindings) == {"team-a", "team-b"}
    for ns, binding in bindings.items():
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": roles[ns]["metadata"]["name"]}
        assert binding["subjects"][0]["namespace"] == "thyme-system"


def test_allowed_image_prefixes_reach_the_operator_as_its_environment():
    deploy = next(d for d in render("operator.allowedImagePrefixes={registry.example.com/thyme/,ghcr.io/acme/}")
                  if d["kind"] == "Deployment")
    env = {e["name"]: e["value"] for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["THYME_ALLOWED_IMAGE_PREFIXES"] == "registry.example.com/thyme/,ghcr.io/acme/"
    default = next(d for d in render() if d["kind"] == "Deployment")
    assert "env" not in default["spec"]["template"]["spec"]["containers"][0]
