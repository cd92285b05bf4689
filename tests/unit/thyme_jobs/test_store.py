"""The local artifact store: atomic puts, listing, scoping, and clear errors."""

import pytest

from thyme_jobs import store


def test_put_get_list_and_child_scoping(tmp_path):
    s = store.LocalStore(tmp_path)
    s.put_bytes("runs/ns/r/data/a.txt", b"a")
    s.put_bytes("runs/ns/r/data/sub/b.txt", b"b")
    run = store.run_root(s, "ns", "r")
    assert list(run.list("data")) == ["data/a.txt", "data/sub/b.txt"]
    assert run.get_bytes("data/sub/b.txt") == b"b"
    assert run.exists("data/a.txt") and not run.exists("data/missing")


def test_missing_object_names_its_location(tmp_path):
    s = store.LocalStore(tmp_path)
    with pytest.raises(store.ObjectNotFound, match="missing.json"):
        s.get_bytes("missing.json")


def test_key_cannot_escape_the_root(tmp_path):
    s = store.LocalStore(tmp_path / "root")
    with pytest.raises(store.StoreError, match="escapes"):
        s.put_bytes("../outside", b"x")


def test_unknown_scheme_is_rejected():
    with pytest.raises(store.StoreError, match="unsupported scheme"):
        store.open_store("gs://bucket/x")


def test_json_roundtrip(tmp_path):
    s = store.open_store(str(tmp_path))
    store.put_json(s, "m.json", {"b": 1, "a": [1, 2]})
    assert store.get_json(s, "m.json") == {"a": [1, 2], "b": 1}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
