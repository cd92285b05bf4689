"""gVisor's runsc runs Python with no network: the isolation the sandbox builds on."""

import socket
import subprocess
import sys


def run_in_gvisor(runsc, code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(runsc), "--network=none", "do", sys.executable, "-c", code],
        capture_output=True, text=True, timeout=120,
    )


def test_runsc_runs_python(runsc):
    done = run_in_gvisor(runsc, "import platform; print('hello from', platform.system())")
    assert done.returncode == 0, done.stderr
    assert "hello from Linux" in done.stdout


def test_socket_connect_to_a_host_listener_fails(runsc):
    # A server really listens on the host's loopback; from inside the sandbox it must
    # be unreachable, because --network=none gives the sandbox no route to the host.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code = (
            "import socket\n"
            "s = socket.socket()\n"
            "s.settimeout(3)\n"
            "try:\n"
            f"    s.connect(('127.0.0.1', {port}))\n"
            "    print('CONNECTED')\n"
            "except OSError as e:\n"
            "    print('BLOCKED', type(e).__name__)\n"
        )
        done = run_in_gvisor(runsc, code)
    assert done.returncode == 0, done.stderr
    assert "BLOCKED" in done.stdout and "CONNECTED" not in done.stdout
