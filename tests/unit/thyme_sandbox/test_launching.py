"""The worker sandbox's OCI spec: what the code inside can see and do."""

from pathlib import Path

import pytest

from thyme_sandbox import launching
from thyme_sandbox.launching import WorkerDirs


def _spec(tmp_path: Path) -> dict:
    dirs = WorkerDirs(tmp_path / "w1")
    return launching.oci_spec(["python", "worker.py"], {"A": "1"}, dirs, tmp_path / "rootfs", ["/usr", "/opt/py"])


def test_root_is_read_only_and_only_the_output_dir_is_writable(tmp_path):
    spec = _spec(tmp_path)
    assert spec["root"]["readonly"] is True
    writable = [m["destination"] for m in spec["mounts"] if m["type"] == "bind" and "rw" in m["options"]]
    assert writable == [launching.SANDBOX_OUT]
    by_dest = {m["destination"]: m for m in spec["mounts"]}
    assert by_dest[launching.SANDBOX_INPUT]["options"] == ["rbind", "ro"]
    assert by_dest["/usr"]["options"] == ["rbind", "ro"] and by_dest["/tmp"]["options"] == ["rbind", "ro"]


def test_worker_runs_unprivileged_in_its_own_namespaces(tmp_path):
    spec = _spec(tmp_path)
    assert spec["process"]["user"] == {"uid": launching.WORKER_UID, "gid": launching.WORKER_UID}
    assert all(caps == [] for caps in spec["process"]["capabilities"].values())
    assert spec["process"]["noNewPrivileges"] is True
    assert {n["type"] for n in spec["linux"]["namespaces"]} >= {"pid", "network", "mount"}


def test_environment_is_only_what_the_launcher_passes(tmp_path):
    assert _spec(tmp_path)["process"]["env"] == ["A=1"]


def test_worker_paths_map_back_to_host_files_and_never_outside(tmp_path):
    dirs = WorkerDirs(tmp_path / "w")
    worker = launching.WorkerProcess(None, dirs, "w", [], launching.SANDBOX_INPUT, launching.SANDBOX_OUT)  # type: ignore[arg-type]
    assert worker.host_path("/sandbox/out/a/b.png") == dirs.out / "a/b.png"
    assert worker.host_path("/sandbox/input/image.jpg") == dirs.input / "image.jpg"
    assert worker.host_path("/sandbox/out/../../etc/passwd") is None
    assert worker.host_path("/etc/passwd") is None


def test_an_unknown_launcher_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match="'runsc' or 'process'"):
        launching.launcher_for("docker", tmp_path, launching.Limits(), 100)
