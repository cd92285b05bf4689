"""Planning from our own status patch until the watch delivers it (kube.StatusWrite), and
the JSON merge patch that tells what the run holds after a patch (kube.merge_patch)."""

from __future__ import annotations

import datetime as dt

from thyme_operator import kube, planner

from .fixtures import spec_dict

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def _stored(version: str, status: dict | None = None) -> dict:
    body = {"apiVersion": "thyme.dev/v1alpha1", "kind": "ThymeRun",
            "metadata": {"name": "demo", "namespace": "ml", "uid": "uid-1", "generation": 1, "resourceVersion": version},
            "spec": spec_dict()}
    if status is not None:
        body["status"] = status
    return body


def _plan(body: dict, observed: list[planner.ObservedChild]) -> planner.Plan:
    return planner.plan(kube.run_view(body), observed, frozenset(), NOW)


def test_a_reconcile_before_the_watch_delivers_our_patch_repeats_nothing():
    # convert runs; its Job succeeds: the reconcile creates sft's children and patches.
    stored = _stored("10", _plan(_stored("9"), []).status)
    done = planner.ObservedChild("Job", "demo-convert-1", "convert", 1, "Succeeded", "2026-01-01T11:59:00Z")
    moved = _plan(stored, [done])
    assert [e.reason for e in moved.events] == ["StageSucceeded", "StageRunning"] and moved.create
    write = kube.StatusWrite.made(stored, None, "11", kube.merge_patch(stored["status"], moved.status))

    # sft's children arrive while the index still holds version 10.
    sft = [planner.ObservedChild("Service", "demo-sft", "sft"), planner.ObservedChild("Job", "demo-sft-1", "sft", 1, "Active")]
    stale = _plan(stored, [done, *sft])
    assert stale.events and kube.changes_status(stored, stale)          # what planning from the index alone repeated
    assert write.newer_than(stored)
    again = _plan(write.applied_to(stored), [done, *sft])
    assert not again.events and not again.create and not kube.changes_status(write.applied_to(stored), again)


def test_the_write_is_dropped_once_the_index_shows_it_or_anything_else():
    write = kube.StatusWrite.made(_stored("10"), None, "11", {"phase": "Running"})
    assert not write.newer_than(_stored("11", {"phase": "Running"}))
    # Someone else's change (say, a status edit by hand) is trusted, not hidden.
    assert not write.newer_than(_stored("12", {"phase": "Pending"}))


def test_writes_in_a_row_stay_newer_than_each_earlier_version():
    first = kube.StatusWrite.made(_stored("10"), None, "11", {"phase": "Running"})
    second = kube.StatusWrite.made(_stored("10"), first, "12", {"phase": "Succeeded"})
    assert second.newer_than(_stored("10")) and second.newer_than(_stored("11"))
    assert not second.newer_than(_stored("12"))
    assert second.applied_to(_stored("11", {"phase": "Running"}))["status"] == {"phase": "Succeeded"}


def test_merge_patch_merges_maps_replaces_lists_and_deletes_nulls():
    target = {"phase": "Running", "stages": {"convert": {"state": "Running", "attempts": 1}},
              "conditions": [{"type": "Ready"}], "kopf": {"progress": {}}}
    patch = {"stages": {"convert": {"state": "Succeeded"}, "sft": {"state": "Running"}},
             "conditions": [{"type": "Failed"}], "kopf": None}
    assert kube.merge_patch(target, patch) == {
        "phase": "Running", "stages": {"convert": {"state": "Succeeded", "attempts": 1}, "sft": {"state": "Running"}},
        "conditions": [{"type": "Failed"}]}
    assert target["stages"]["convert"]["state"] == "Running"        # the input is left alone
