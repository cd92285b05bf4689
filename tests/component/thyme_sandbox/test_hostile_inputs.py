"""The hostile-input battery: each case is contained with a clear result, and a bystander
session opened before it keeps answering at normal speed, state intact."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess

import pytest

from thyme_sandbox.client import SandboxClient

# A trivial warm call takes about a millisecond; this is "normal speed" with margin for
# a 2-core machine that is also running the hostile case.
BYSTANDER_SECONDS = 0.5


async def _contained(server, code: str, concurrent_bystander: bool = False):
    """Run `code` in a fresh session while a bystander session checks it is unaffected."""
    async with SandboxClient(server.url) as client, client.session() as bystander, client.session() as s:
        assert (await bystander.run("state = 'kept'")).status == "ok"
        hostile = asyncio.create_task(s.run(code))
        if concurrent_bystander:
            await asyncio.sleep(0.3)
            during = await bystander.run("print(state)")
            assert during.stdout == "kept\n" and during.wall_seconds < BYSTANDER_SECONDS, during
        result = await hostile
        after = await bystander.run("print(state)")
        assert after.status == "ok" and after.stdout == "kept\n", after
        assert after.wall_seconds < BYSTANDER_SECONDS, after
        follow_up = await s.run("print('next')")
    return result, follow_up


async def test_fork_bomb_hits_the_process_limit(sandbox_server):
    result, _ = await _contained(sandbox_server, "import os\nwhile True:\n    os.fork()")
    assert result.status in ("error", "timeout"), result
    if result.status == "error":
        assert result.error.type == "BlockingIOError", result


async def test_memory_bomb_is_out_of_memory(sandbox_server):
    result, follow_up = await _contained(sandbox_server, "hog = []\nwhile True:\n    hog.append(bytearray(64 << 20))")
    assert result.status == "oom" and result.error.type == "MemoryError", result
    assert follow_up.status == "ok"  # the session survives: the allocation failed, the worker did not


async def test_huge_numpy_allocation_is_out_of_memory(sandbox_server):
    result, _ = await _contained(sandbox_server, "a = np.ones((60000, 60000))")
    assert result.status == "oom", result


async def test_infinite_loop_times_out_and_the_session_says_it_is_dead(sandbox_server):
    result, follow_up = await _contained(sandbox_server, "while True:\n    pass", concurrent_bystander=True)
    assert result.status == "timeout" and "timed out" in result.error.message, result
    assert follow_up.status == "error" and follow_up.error.type == "SessionDead", follow_up


async def test_long_busy_loop_inside_numpy_times_out(sandbox_server):
    code = "m = np.random.rand(1500, 1500)\nfor _ in range(10000):\n    m = m @ m.T / 1500"
    result, _ = await _contained(sandbox_server, code, concurrent_bystander=True)
    assert result.status == "timeout", result


async def test_signal_games_cannot_stop_the_timeout(sandbox_server):
    code = ("import signal\n"
            "for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGXCPU):\n"
            "    signal.signal(s, signal.SIG_IGN)\n"
            "signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP})\n"
            "while True:\n    pass")
    result, _ = await _contained(sandbox_server, code)
    assert result.status == "timeout", result


async def test_network_connect_to_a_host_listener_fails(sandbox_server):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.1)
        port = listener.getsockname()[1]
        code = f"import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', {port}))\nprint('CONNECTED')"
        result, _ = await _contained(sandbox_server, code)
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever reached the host
    assert result.status == "error" and result.error.type in ("ConnectionRefusedError", "OSError", "TimeoutError")
    assert "CONNECTED" not in result.stdout


async def test_host_files_and_environment_are_not_readable(sandbox_server, tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    monkeypatch.setenv("THYME_TEST_SECRET", "hunter2")
    code = (f"found = []\nfor p in [{str(secret)!r}, '/etc/shadow', '/proc/1/environ', '/root/.bash_history',"
            f" {os.getcwd() + '/pyproject.toml'!r}]:\n"
            "    try:\n        found.append(open(p).read())\n    except OSError as e:\n        pass\n"
            "print(len(found), 'hunter2' in ''.join(found) + str(dict(os.environ)))")
    result, _ = await _contained(sandbox_server, code)
    assert result.status == "ok", result
    count, leaked = result.stdout.split()
    assert leaked == "False"
    assert count in ("0", "1"), result.stdout  # /proc/1/environ is the worker's own, minimal one


async def test_writing_outside_the_scratch_directory_fails(sandbox_server, tmp_path):
    target = tmp_path / "planted.txt"
    code = (f"errors = []\nfor p in ['/etc/evil', '/tmp/evil', '/sandbox/evil', '/sandbox/input/evil', {str(target)!r}]:\n"
            "    try:\n        open(p, 'w').write('x')\n    except OSError as e:\n        errors.append(type(e).__name__)\n"
            "print(len(errors))")
    result, _ = await _contained(sandbox_server, code)
    assert result.stdout == "5\n", result
    assert not target.exists()


async def test_a_symlink_out_of_scratch_returns_nothing_from_outside(sandbox_server, tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"host secret bytes")
    code = (f"os.symlink({str(secret)!r}, 'leak.jpg')\nos.symlink('/etc/hostname', 'host.jpg')\n"
            "processed_path = '/sandbox/out/leak.jpg'\nprint('/sandbox/out/host.jpg')")
    result, _ = await _contained(sandbox_server, code)
    assert result.status == "ok" and result.images == [], result
    assert secret.read_bytes() == b"host secret bytes"


async def test_printing_100_mb_is_truncated_and_marked(sandbox_server):
    result, _ = await _contained(sandbox_server, "print('x' * 100_000_000)\nfor i in range(1000):\n    print(i)")
    assert result.status == "ok" and result.stdout_truncated, result.status
    assert len(result.stdout) == 4096  # the test server's stdout_limit


async def test_code_that_closes_stdout_does_not_break_the_session(sandbox_server):
    result, follow_up = await _contained(sandbox_server, "import sys\nsys.stdout.close()\nos.close(1)\nos.close(0)")
    assert result.status == "ok", result
    assert follow_up.status == "ok" and follow_up.stdout == "next\n", follow_up


async def test_a_worker_sigkilled_mid_call_is_killed_and_the_service_serves_on(sandbox_server):
    service = sandbox_server.service
    async with SandboxClient(sandbox_server.url) as client, client.session() as bystander, client.session() as s:
        call = asyncio.create_task(s.run("import time\ntime.sleep(30)"))
        await asyncio.sleep(0.5)
        worker = service.sessions.get(s.id).worker
        runsc_root = service.state_dir / "runsc"
        subprocess.run([service.launcher.runsc, "--root", str(runsc_root), "kill", worker.name, "KILL"], check=True)
        result = await call
        assert result.status == "killed" and result.error.type == "WorkerDied", result
        assert (await s.run("print(1)")).error.type == "SessionDead"
        after = await bystander.run("print('alive')")
        assert after.stdout == "alive\n" and after.wall_seconds < BYSTANDER_SECONDS


async def test_os_exit_in_user_code_is_a_killed_worker(sandbox_server):
    result, _ = await _contained(sandbox_server, "os._exit(3)")
    assert result.status == "killed" and "exit status" in result.error.message, result


async def test_nothing_of_one_session_is_readable_from_another(sandbox_server):
    async with SandboxClient(sandbox_server.url) as client, client.session() as a, client.session() as b:
        await a.run("secret = 'only-a'\nopen('note.txt', 'w').write('only-a')")
        worker_a = sandbox_server.service.sessions.get(a.id).worker
        probe = (f"print(os.listdir('/sandbox/out'), os.path.exists({str(worker_a.dirs.root)!r}),"
                 " 'secret' in globals())")
        result = await b.run(probe)
    assert result.stdout == "[] False False\n", result
