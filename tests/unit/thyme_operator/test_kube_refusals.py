"""Which API errors on create are refusals the user must see (kube.is_refusal,
kube.api_message), as opposed to transient errors kopf retries."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.rest import ApiException

from thyme_operator import kube


def _error(status: int, message: str | None = None) -> ApiException:
    exc = ApiException(status=status, reason="Forbidden")
    exc.body = json.dumps({"kind": "Status", "message": message}).encode() if message else None
    return exc


@pytest.mark.parametrize("status,refusal", [(403, True), (422, True), (400, True), (404, True),
                                            (409, False), (429, False), (500, False), (503, False)])
def test_definite_client_errors_are_refusals_and_conflicts_or_server_errors_are_not(status, refusal):
    assert kube.is_refusal(_error(status)) is refusal


def test_the_api_servers_own_message_is_kept():
    quota = 'jobs.batch "demo-convert-1" is forbidden: exceeded quota: no-jobs, requested: count/jobs.batch=1'
    assert kube.api_message(_error(403, quota)) == quota
    assert kube.api_message(_error(403)) == "403 Forbidden"
