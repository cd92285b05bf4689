"""Real sandbox services on free loopback ports, one per launcher, per session.

`sandbox_server`: runsc workers, the service in this process on its own thread
(serving.InProcessServer), so tests can reach behind the API where they must.
`pod_sandbox`: the process launcher the way the cluster's pod runs it, inside a runsc
container shaped like the pod (testenv.sandbox_pod). `any_sandbox` is each in turn,
behind one small interface (`url`, `kill_worker`), for the suites both must pass.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from thyme_sandbox.serving import InProcessServer
from thyme_sandbox.settings import SandboxSettings

# Short enough to keep the timeout cases quick, long enough for a cold numpy call.
CALL_TIMEOUT = 4.0


@pytest.fixture(scope="session")
def sandbox_server(runsc) -> Iterator[InProcessServer]:
    settings = SandboxSettings(runsc=str(runsc), pool_size=4, max_starts=2, call_timeout=CALL_TIMEOUT,
                               acquire_timeout=60, stdout_limit=4096)
    server = InProcessServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pod_sandbox(runsc, tmp_path_factory) -> Iterator["PodLikeSandbox"]:
    from testenv.sandbox_pod import PodLikeSandbox

    args = ["--call-timeout", str(CALL_TIMEOUT), "--max-starts", "2", "--acquire-timeout", "60",
            "--stdout-limit", "4096"]
    pod = PodLikeSandbox(runsc, tmp_path_factory.mktemp("sandbox-pod"), args, pool_size=4).start()
    try:
        yield pod
    finally:
        pod.stop()


@dataclass
class Launched:
    """A running service and how to SIGKILL the worker behind a session from outside it."""

    launcher: str
    url: str
    _kill: object

    def kill_worker(self, session_id: str, pid_inside: int) -> None:
        self._kill(session_id, pid_inside)  # type: ignore[operator]


@pytest.fixture(scope="session", params=["runsc", "process"])
def any_sandbox(request) -> Launched:
    if request.param == "runsc":
        server = request.getfixturevalue("sandbox_server")

        def kill(session_id: str, _pid: int) -> None:
            service = server.service
            name = service.sessions.get(session_id).worker.name
            subprocess.run([service.launcher.runsc, "--root", str(service.state_dir / "runsc"), "kill", name, "KILL"],
                           check=True)

        return Launched("runsc", server.url, kill)
    pod = request.getfixturevalue("pod_sandbox")
    return Launched("process", pod.url,
                    lambda _session, pid: pod.exec([sys.executable, "-c", f"import os; os.kill({pid}, 9)"]))


@pytest.fixture(scope="session")
def photo() -> bytes:
    """A 2000x1500 JPEG with a gradient, so crops differ by where they were taken."""
    from PIL import Image

    image = Image.linear_gradient("L").resize((2000, 1500)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
