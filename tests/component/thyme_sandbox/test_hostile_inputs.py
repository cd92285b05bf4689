"""The hostile-input battery: each case is contained with a clear result, and a bystander
session opened before it keeps answering at normal speed, state intact.

Every case runs against both launchers (`any_sandbox`): runsc workers as `thyme run`
starts them locally, and the process launcher the way the cluster's sandbox pod runs
it (inside a gVisor container, the server as the pod's root with few capabilities).
"""

from __future__ import annotations

import asyncio
import os
import socket

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


async def test_fork_bomb_hits_the_process_limit(any_sandbox):
    result, _ = await _contained(any_sandbox, "import os\nwhile True:\n    os.fork()")
    assert result.status in ("error", "timeout"), result
    if result.status == "error":
        assert result.error.type == "BlockingIOError", result


async def test_memory_bomb_is_out_of_memory(any_sandbox):
    result, follow_up = await _contained(any_sandbox, "hog = []\nwhile True:\n    hog.append(bytearray(64 << 20))")
    assert result.status == "oom" and result.error.type == "MemoryError", result
    assert follow_up.status == "ok"  # the session survives: the allocation failed, the worker did not


async def test_huge_numpy_allocation_is_out_of_memory(any_sandbox):
    result, _ = await _contained(any_sandbox, "a = np.ones((60000, 60000))")
    assert result.status == "oom", result


async def test_infinite_loop_times_out_and_the_session_says_it_is_dead(any_sandbox):
    result, follow_up = await _contained(any_sandbox, "while True:\n    pass", concurrent_bystander=True)
    assert result.status == "timeout" and "timed out" in result.error.message, result
    assert follow_up.status == "error" and follow_up.error.type == "SessionDead", follow_up


async def test_long_busy_loop_inside_numpy_times_out(any_sandbox):
    code = "m = np.random.rand(1500, 1500)\nfor _ in range(10000):\n    m = m @ m.T / 1500"
    result, _ = await _contained(any_sandbox, code, concurrent_bystander=True)
    assert result.status == "timeout", result


async def test_signal_games_cannot_stop_the_timeout(any_sandbox):
    code = ("import signal\n"
            "for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGXCPU):\n"
            "    signal.signal(s, signal.SIG_IGN)\n"
            "signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP})\n"
            "while True:\n    pass")
    result, _ = await _contained(any_sandbox, code)
    assert result.status == "timeout", result


async def test_network_connect_to_a_host_listener_fails(any_sandbox):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.1)
        port = listener.getsockname()[1]
        code = f"import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', {port}))\nprint('CONNECTED')"
        result, _ = await _contained(any_sandbox, code)
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever reached the host
    assert result.status == "error" and result.error.type in ("ConnectionRefusedError", "OSError", "TimeoutError")
    assert "CONNECTED" not in result.stdout


async def test_host_files_and_environment_are_not_readable(any_sandbox, tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    monkeypatch.setenv("THYME_TEST_SECRET", "hunter2")
    code = (f"found = []\nfor p in [{str(secret)!r}, '/etc/shadow', '/proc/1/environ', '/root/.bash_history',"
            f" {os.getcwd() + '/pyproject.toml'!r}]:\n"
            "    try:\n        found.append(open(p).read())\n    except OSError as e:\n        pass\n"
            "print(len(found), 'hunter2' in ''.join(found) + str(dict(os.environ)))")
    result, _ = await _contained(any_sandbox, code)
    assert result.status == "ok", result
    count, leaked = result.stdout.split()
    assert leaked == "False"
    assert count in ("0", "1"), result.stdout  # /proc/1/environ is the worker's own, minimal one


async def test_writing_outside_the_scratch_directory_fails(any_sandbox, tmp_path):
    target = tmp_path / "planted.txt"
    # ../evil and up: beside the session's directory, in the service's state directory
    code = (f"errors = []\nfor p in ['/etc/evil', '/tmp/evil', '/sandbox/evil', '/sandbox/input/evil', {str(target)!r},"
            " '../evil', '../../evil', '../../../evil']:\n"
            "    try:\n        open(p, 'w').write('x')\n    except OSError as e:\n        errors.append(type(e).__name__)\n"
            "print(len(errors))")
    result, _ = await _contained(any_sandbox, code)
    assert result.stdout == "8\n", result
    assert not target.exists()


async def test_a_symlink_out_of_scratch_returns_nothing_from_outside(any_sandbox, tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"host secret bytes")
    code = (f"os.symlink({str(secret)!r}, 'leak.jpg')\nos.symlink('/etc/hostname', 'host.jpg')\n"
            "processed_path = '/sandbox/out/leak.jpg'\nprint('/sandbox/out/host.jpg')")
    result, _ = await _contained(any_sandbox, code)
    assert result.status == "ok" and result.images == [], result
    assert secret.read_bytes() == b"host secret bytes"


async def test_printing_100_mb_is_truncated_and_marked(any_sandbox):
    result, _ = await _contained(any_sandbox, "print('x' * 100_000_000)\nfor i in range(1000):\n    print(i)")
    assert result.status == "ok" and result.stdout_truncated, result.status
    assert len(result.stdout) == 4096  # the test server's stdout_limit


async def test_code_that_closes_stdout_does_not_break_the_session(any_sandbox):
    result, follow_up = await _contained(any_sandbox, "import sys\nsys.stdout.close()\nos.close(1)\nos.close(0)")
    assert result.status == "ok", result
    assert follow_up.status == "ok" and follow_up.stdout == "next\n", follow_up


async def test_a_worker_sigkilled_mid_call_is_killed_and_the_service_serves_on(any_sandbox):
    async with SandboxClient(any_sandbox.url) as client, client.session() as bystander, client.session() as s:
        pid = int((await s.run("print(os.getpid())")).stdout)
        call = asyncio.create_task(s.run("import time\ntime.sleep(30)"))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(any_sandbox.kill_worker, s.id, pid)
        result = await call
        assert result.status == "killed" and result.error.type == "WorkerDied", result
        assert (await s.run("print(1)")).error.type == "SessionDead"
        after = await bystander.run("print('alive')")
        assert after.stdout == "alive\n" and after.wall_seconds < BYSTANDER_SECONDS


async def test_os_exit_in_user_code_is_a_killed_worker(any_sandbox):
    result, _ = await _contained(any_sandbox, "os._exit(3)")
    assert result.status == "killed" and "exit status" in result.error.message, result


async def test_nothing_of_one_session_is_readable_or_writable_from_another(any_sandbox):
    """Reward tampering: a session that knows where another keeps its image can neither read nor replace it."""
    async with SandboxClient(any_sandbox.url) as client, client.session() as a, client.session() as b:
        where = await a.run("secret = 'only-a'\nopen('note.txt', 'w').write('only-a')\n"
                            "Image.new('RGB', (8, 8), 'red').save('crop.png')\nprint(os.getcwd())")
        home = where.stdout.strip()
        probe = (f"home = {home!r}\nseen = []\n"
                 "for attempt in (lambda: open(home + '/note.txt').read(), lambda: os.listdir(home),\n"
                 "                lambda: open(home + '/crop.png', 'wb').write(b'tampered'),\n"
                 "                lambda: os.remove(home + '/crop.png'), lambda: os.rename(home, home + '.x')):\n"
                 "    try:\n        seen.append(repr(attempt()))\n    except OSError as e:\n"
                 "        seen.append(type(e).__name__)\n"
                 "print(seen, 'secret' in globals())")
        result = await b.run(probe)
        after = await a.run("print(open('note.txt').read(), Image.open('crop.png').getpixel((0, 0)))")
    assert where.status == "ok" and result.status == "ok", (where, result)
    assert "only-a" not in result.stdout and "crop.png" not in result.stdout, result.stdout
    assert "tampered" not in result.stdout and result.stdout.rstrip().endswith("False"), result.stdout
    assert after.stdout == "only-a (255, 0, 0)\n", after


async def test_the_services_own_port_is_unreachable_from_user_code(any_sandbox):
    """A session must not open, run or close other sessions through the API on localhost."""
    port = int(any_sandbox.url.rsplit(":", 1)[1])
    code = ("import socket\nout = []\n"
            f"for host in ('127.0.0.1', 'localhost', '0.0.0.0'):\n"
            f"    try:\n        with socket.create_connection((host, {port}), timeout=2):\n"
            "            out.append('CONNECTED')\n"
            "    except OSError as e:\n        out.append(type(e).__name__)\n"
            "print(out)")
    result, _ = await _contained(any_sandbox, code)
    assert result.status == "ok" and "CONNECTED" not in result.stdout, result


async def test_the_server_process_cannot_be_signalled_or_read(any_sandbox):
    """Whatever server process user code can see, it can neither signal it nor read its state from /proc."""
    code = ("import signal\nme = os.getpid()\nservers = []\n"
            "for p in filter(str.isdigit, os.listdir('/proc')):\n"
            "    try:\n        line = open(f'/proc/{p}/cmdline', 'rb').read()\n    except OSError:\n        continue\n"
            "    if b'serve' in line and int(p) != me:\n        servers.append(int(p))\n"
            "reached = []\n"
            "def environment(pid):\n"
            "    if b'=' in open(f'/proc/{pid}/environ', 'rb').read():\n        return 'variables'\n"
            "    raise PermissionError('nothing in it')\n"
            "def channels(pid):\n"  # its pipes to other sessions' workers, its sockets
            "    for n in os.listdir(f'/proc/{pid}/fd'):\n"
            "        try:\n            kind = os.readlink(f'/proc/{pid}/fd/{n}')\n        except OSError:\n"
            "            continue\n"
            "        if kind.startswith(('pipe:', 'socket:')):\n"
            "            for mode in ('rb', 'wb'):\n"
            "                try:\n                    open(f'/proc/{pid}/fd/{n}', mode, buffering=0).close()\n"
            "                    return kind\n"
            "                except OSError:\n                    pass\n"
            "    raise PermissionError('no channel opened')\n"
            "for pid in servers:\n"
            "    for name, attempt in (('kill', lambda: os.kill(pid, 0)), ('signal', lambda: os.kill(pid, signal.SIGCONT)),\n"
            "                          ('environ', lambda: environment(pid)), ('channels', lambda: channels(pid)),\n"
            "                          ('mem', lambda: open(f'/proc/{pid}/mem', 'rb').read(1)),\n"
            "                          ('cwd', lambda: os.readlink(f'/proc/{pid}/cwd')),\n"
            "                          ('root', lambda: os.listdir(f'/proc/{pid}/root/'))):\n"
            "        try:\n            attempt()\n            reached.append(name)\n"
            "        except OSError:\n            pass\n"
            "print(len(servers), reached)")
    result, _ = await _contained(any_sandbox, code)
    assert result.status == "ok", result
    found, reached = result.stdout.split(" ", 1)
    assert reached.strip() == "[]", result.stdout
    if any_sandbox.launcher == "process":
        assert int(found) >= 1, result.stdout  # the pod's server is in view, so the denials above were tested
