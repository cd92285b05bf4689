"""Sessions through the real HTTP API and real runsc workers: state, results, faults."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from thyme_sandbox.client import PoolExhausted, SandboxClient, SandboxUnavailable, SessionNotFound, WrongReplica
from thyme_sandbox.serving import InProcessServer
from thyme_sandbox.settings import SandboxSettings


async def test_variables_and_imports_persist_across_calls(sandbox_server):
    async with SandboxClient(sandbox_server.url) as client, client.session() as s:
        first = await s.run("import statistics\nx = 40")
        second = await s.run("<code>print(statistics.mean([x, x + 4]))</code>")
    assert first.status == "ok", first
    assert second.status == "ok" and second.stdout.strip() == "42", second


async def test_crop_written_to_the_model_output_path_comes_back_as_an_image(sandbox_server, photo):
    code = ("<code>\n```python\nimage = Image.open(image_path)\n"
            "crop_box = (1990, 10, 2400, 20)\n"
            "out = image.crop(crop_box)\n"
            "processed_path = '/mnt/data/temp_processed_images/crops/zoom.jpg'\n"
            "out.save(processed_path)\nprint(processed_path)\n```\n</code>")
    async with SandboxClient(sandbox_server.url) as client, client.session(photo) as s:
        result = await s.run(code)
    assert result.status == "ok", result
    assert len(result.images) == 1
    crop = Image.open(io.BytesIO(result.image_bytes()[0]))
    assert crop.size == (64, 64)  # clamped to the image, widened to the 64 px minimum


async def test_pre_set_names_match_the_reference(sandbox_server, photo):
    async with SandboxClient(sandbox_server.url) as client, client.session(photo) as s:
        result = await s.run("print(np.__name__, cv2.__name__, Image.__name__, os.path.basename(image_path),"
                             " temp_output_dir)")
    assert result.stdout.split() == ["numpy", "cv2", "PIL.Image", "image.jpg", "/sandbox/out"], result


async def test_a_user_exception_is_a_result_with_type_message_and_line(sandbox_server):
    async with SandboxClient(sandbox_server.url) as client, client.session() as s:
        result = await s.run("a = 1\nb = 0\nprint(a / b)")
    assert result.status == "error"
    assert result.error is not None
    assert (result.error.type, result.error.message, result.error.line) == ("ZeroDivisionError", "division by zero", 3)


async def test_a_syntax_error_is_a_result_with_its_line(sandbox_server):
    async with SandboxClient(sandbox_server.url) as client, client.session() as s:
        result = await s.run("x = 1\nif x\n    print(x)")
        after = await s.run("print('fine')")
    assert result.status == "error" and result.error.type == "SyntaxError" and result.error.line == 2
    assert after.stdout == "fine\n"


async def test_a_computation_returns_stdout_and_no_images(sandbox_server):
    async with SandboxClient(sandbox_server.url) as client, client.session() as s:
        result = await s.run("w, h = 1000, 750\nprint(f'ratio {w / h:.2f}')")
    assert result.stdout == "ratio 1.33333333\n" and result.images == []  # Thyme's .8f widening


async def test_an_unknown_or_closed_session_is_session_not_found(sandbox_server):
    async with SandboxClient(sandbox_server.url) as client:
        with pytest.raises(SessionNotFound):
            await client.run("nope", "print(1)")
        session_id = await client.create_session()
        await client.close_session(session_id)
        with pytest.raises(SessionNotFound):
            await client.run(session_id, "print(1)")


async def test_health_readiness_and_metrics(sandbox_server):
    import httpx

    async with SandboxClient(sandbox_server.url) as client, client.session() as s:
        await s.run("print(1)")
        assert await client.ready()
    async with httpx.AsyncClient(base_url=sandbox_server.url) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        metrics = (await http.get("/metrics")).text
    assert 'thyme_sandbox_calls_total{status="ok"}' in metrics
    assert "thyme_sandbox_call_seconds_bucket" in metrics and "thyme_sandbox_pool_idle_workers" in metrics


async def test_an_unreachable_service_is_sandbox_unavailable():
    from testenv.processes import free_port

    async with SandboxClient(f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        with pytest.raises(SandboxUnavailable):
            await client.create_session()


async def test_a_full_pool_answers_pool_exhausted(runsc):
    settings = SandboxSettings(runsc=str(runsc), pool_size=1, max_workers=1, acquire_timeout=0.5)
    server = InProcessServer(settings).start()
    try:
        async with SandboxClient(server.url) as client:
            first = await client.create_session()
            with pytest.raises(PoolExhausted):
                await client.create_session()
            await client.close_session(first)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                server.service.pool.wait_full(60), server.app.state.loop))  # refilled in the background
            second = await client.create_session()
            assert (await client.run(second, "print(2)")).stdout == "2\n"
    finally:
        server.stop()


async def test_images_can_be_written_to_the_object_store(runsc, minio_server, s3_bucket, photo, monkeypatch):
    for key, value in minio_server.env().items():
        monkeypatch.setenv(key, value)
    settings = SandboxSettings(runsc=str(runsc), pool_size=1, images_to="store", store_uri=f"s3://{s3_bucket}/sbx")
    server = InProcessServer(settings).start()
    try:
        async with SandboxClient(server.url) as client, client.session(photo) as s:
            result = await s.run("Image.open(image_path).crop((0, 0, 100, 100)).save('a.png')\n"
                                 "print('/sandbox/out/a.png')")
    finally:
        server.stop()
    assert result.status == "ok" and result.images == [] and len(result.image_keys) == 1, result
    stored = minio_server.client().get_object(s3_bucket, "sbx/" + result.image_keys[0]).read()
    assert Image.open(io.BytesIO(stored)).size == (100, 100)


def test_thyme_sandbox_serve_runs_as_a_command(runsc, tmp_path):
    from testenv.processes import free_port
    from thyme_sandbox import serving

    port = free_port()
    proc, url = serving.spawn(["--port", str(port), "--pool-size", "1", "--runsc", str(runsc)], tmp_path / "log")
    try:
        async def one_call() -> str:
            async with SandboxClient(url) as client, client.session() as s:
                return (await s.run("print(6 * 7)")).stdout

        assert asyncio.run(one_call()) == "42\n"
    finally:
        proc.terminate()
        proc.wait(30)
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete.
    assert proc.returncode in (0, -15), (tmp_path / "log").read_text()[-2000:]
    assert "Application shutdown complete" in (tmp_path / "log").read_text()


async def test_sessions_across_replicas_behind_a_balancing_service_keep_their_state(runsc):
    """Two replicas behind a per-connection balancer (a ClusterIP Service): every call finds its session."""
    from testenv.balancer import RoundRobinBalancer
    from testenv.processes import free_port

    ports = [free_port(), free_port()]
    replicas = [InProcessServer(SandboxSettings(runsc=str(runsc), pool_size=2, max_workers=4, acquire_timeout=60,
                                                replica_url=f"http://127.0.0.1:{port}"), port=port)
                for port in ports]
    for replica in replicas:
        replica.start()
    balancer = RoundRobinBalancer([("127.0.0.1", port) for port in ports]).start()
    try:
        async with SandboxClient(balancer.url) as client:
            sessions = [await client.create_session() for _ in range(4)]
            for i, session in enumerate(sessions):
                assert (await client.run(session, f"x = {i}")).status == "ok"
            results = await asyncio.gather(*(client.run(s, "print(x)") for s in sessions))
            assert [r.stdout for r in results] == [f"{i}\n" for i in range(4)], results
            # both replicas hold sessions: the balancer spread them
            assert len({s.split("-", 1)[0] for s in sessions}) == 2, sessions
            for session in sessions:
                await client.close_session(session)
        # a call sent to the wrong replica says so (421), rather than "no such session"
        async with SandboxClient(replicas[0].url) as first, SandboxClient(replicas[1].url) as second:
            held = await first.create_session()
            with pytest.raises(WrongReplica, match="not opened on this replica"):
                await second.run(held, "print(1)")
            await first.close_session(held)
    finally:
        balancer.stop()
        for replica in replicas:
            replica.stop()


async def test_the_process_launcher_serves_the_way_the_pod_runs_it(pod_sandbox, photo):
    """`thyme sandbox serve --launcher process` as the pod runs it: ready, stateful, one uid per session."""
    async with SandboxClient(pod_sandbox.url) as client, client.session(photo) as a, client.session() as b:
        assert await client.ready()
        first = await a.run("x = 40\nprint(os.getuid(), os.getgid(), os.getgroups())")
        second = await a.run("<code>print(x + 2)</code>")
        crop = await a.run("Image.open(image_path).crop((0, 0, 100, 80)).save('c.png')\nprint(os.getcwd() + '/c.png')")
        other = await b.run("print(os.getuid())")
    assert first.status == "ok" and second.stdout == "42\n", (first, second)
    uid, gid, groups = first.stdout.split(" ", 2)
    assert int(uid) >= 20000 and gid == uid and groups.strip() == "[]", first.stdout
    assert other.status == "ok" and int(other.stdout) not in (0, int(uid)), other
    assert crop.status == "ok" and Image.open(io.BytesIO(crop.image_bytes()[0])).size == (100, 80), crop


async def test_scratch_use_is_measured_by_the_service_not_reported_by_the_worker(runsc):
    settings = SandboxSettings(runsc=str(runsc), pool_size=1, scratch_bytes=1 << 20, acquire_timeout=60)
    server = InProcessServer(settings).start()
    try:
        async with SandboxClient(server.url) as client, client.session() as s:
            # the worker's own bookkeeping is user code's to rewrite
            result = await s.run("import sys\nmain = sys.modules['__main__']\n"
                                 "for name in dir(main):\n"
                                 "    if 'bytes' in name and callable(getattr(main, name)):\n"
                                 "        setattr(main, name, lambda *a, **k: 0)\n"
                                 "open('big.bin', 'wb').write(os.urandom(3 << 20))")
    finally:
        server.stop()
    assert result.status == "error" and result.error.type == "ScratchQuotaExceeded", result
