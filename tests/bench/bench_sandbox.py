"""Benchmark of the sandbox service against plain in-process `exec`, in the same run.

    VENV=$(bash tests/env/python-env.sh)
    $VENV/bin/python tests/bench/bench_sandbox.py            # about a minute on 2 cores
    $VENV/bin/python tests/bench/bench_sandbox.py --concurrency 32 --calls 20

Targets (issue 4): a trivial call's HTTP round trip p50 <= 2 ms; open, crop and save of a
2000 px JPEG p50 <= 1.5x in-process; 32 concurrent sessions with no errors; the cold
start of one runsc worker measured and hidden by the warm pool (session open time).
The service runs as a `thyme sandbox serve` subprocess so client and server do not
share a GIL, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for testenv

from PIL import Image  # noqa: E402

from testenv.processes import free_port  # noqa: E402
from thyme_sandbox import serving  # noqa: E402
from thyme_sandbox.client import SandboxClient  # noqa: E402
from thyme_sandbox.launching import Limits, RunscLauncher  # noqa: E402

TRIVIAL = "x = 1"
CROP = ("image = Image.open(image_path)\ncrop = image.crop((500, 400, 1300, 1000))\n"
        "crop.save('/mnt/data/temp_processed_images/crop.jpg')\nprint('/mnt/data/temp_processed_images/crop.jpg')")


def photo() -> bytes:
    image = Image.linear_gradient("L").resize((2000, 1500)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def in_process(code: str, n: int, image: bytes) -> list[float]:
    """The reference's way: exec in this process, stdout redirected, no isolation."""
    import cv2
    import numpy

    work = Path(tempfile.mkdtemp(prefix="bench-inproc-"))
    (work / "image.jpg").write_bytes(image)
    code = code.replace("/mnt/data/temp_processed_images/", str(work) + "/")
    compiled = compile(code, "<code>", "exec")
    times = []
    for _ in range(n):
        namespace = {"Image": Image, "np": numpy, "cv2": cv2, "image_path": str(work / "image.jpg")}
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compiled, namespace)
        times.append(time.perf_counter() - started)
    shutil.rmtree(work)
    return times


async def through_service(url: str, code: str, n: int, image: bytes | None) -> list[float]:
    async with SandboxClient(url) as client, client.session(image) as s:
        await s.run(code)  # first call warms caches, as the in-process loop's first does
        times = []
        for _ in range(n):
            started = time.perf_counter()
            result = await s.run(code)
            times.append(time.perf_counter() - started)
            assert result.status == "ok", result
    return times


async def interleaved(url: str, code: str, n: int, image: bytes) -> tuple[list[float], list[float]]:
    """Service and in-process timings taken turn about, so drift in the machine's speed
    (other load, CPU frequency) lands on both sides of the ratio alike."""
    import cv2
    import numpy

    work = Path(tempfile.mkdtemp(prefix="bench-inproc-"))
    (work / "image.jpg").write_bytes(image)
    compiled = compile(code.replace("/mnt/data/temp_processed_images/", str(work) + "/"), "<code>", "exec")
    service, local = [], []
    async with SandboxClient(url) as client, client.session(image) as s:
        await s.run(code)
        for _ in range(n):
            namespace = {"Image": Image, "np": numpy, "cv2": cv2, "image_path": str(work / "image.jpg")}
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compiled, namespace)
            local.append(time.perf_counter() - started)
            started = time.perf_counter()
            result = await s.run(code)
            service.append(time.perf_counter() - started)
            assert result.status == "ok", result
    shutil.rmtree(work)
    return service, local


async def concurrent(url: str, sessions: int, calls: int, image: bytes) -> tuple[float, int, int]:
    errors = 0

    async def one(client: SandboxClient) -> None:
        nonlocal errors
        async with client.session(image) as s:
            for _ in range(calls):
                result = await s.run(CROP)
                errors += result.status != "ok"

    async with SandboxClient(url, max_connections=sessions * 2) as client:
        started = time.perf_counter()
        await asyncio.gather(*(one(client) for _ in range(sessions)))
        return time.perf_counter() - started, sessions * calls, errors


async def session_open_times(url: str, n: int) -> list[float]:
    times = []
    async with SandboxClient(url) as client:
        for _ in range(n):
            started = time.perf_counter()
            session_id = await client.create_session()
            times.append(time.perf_counter() - started)
            await client.close_session(session_id)
            await asyncio.sleep(1.5)  # let the pool refill, as it would between trajectories
    return times


async def cold_starts(runsc: str, n: int) -> list[float]:
    state = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    launcher = RunscLauncher(runsc, state, Limits(), 4096)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        worker = await launcher.start()
        await worker.wait_ready(120)
        times.append(time.perf_counter() - started)
        await worker.kill()
    shutil.rmtree(state, ignore_errors=True)
    return times


def runsc_do_cold(runsc: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        subprocess.run([runsc, "--network=none", "do", sys.executable, "-c", "import numpy, cv2, PIL.Image"],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def row(name: str, values: list[float], unit: float = 1e3, suffix: str = "ms") -> str:
    return (f"{name:<44} p50 {statistics.median(values) * unit:9.2f} {suffix}   "
            f"p95 {pct(values, 0.95) * unit:9.2f} {suffix}   n={len(values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runsc", default=shutil.which("runsc"))
    parser.add_argument("--trivial-calls", type=int, default=300)
    parser.add_argument("--crop-calls", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--calls", type=int, default=10, help="calls per concurrent session")
    parser.add_argument("--cold", type=int, default=3)
    args = parser.parse_args()
    image = photo()

    print(row("cold start: runsc run worker -> ready", asyncio.run(cold_starts(args.runsc, args.cold))))
    print(row("cold start: runsc do python -c 'import ...'", runsc_do_cold(args.runsc, args.cold)))

    log = Path(tempfile.mkdtemp(prefix="bench-sandbox-")) / "serve.log"
    pool = args.concurrency + 2
    proc, url = serving.spawn(["--port", str(free_port()), "--pool-size", str(pool), "--max-workers", str(pool * 2),
                               "--runsc", args.runsc], log, ready_timeout=600)
    try:
        boot = time.perf_counter()
        while True:  # wait until the whole pool is warm before timing anything
            import httpx

            idle = httpx.get(url + "/readyz").json()["idle_workers"]
            if idle >= pool:
                break
            time.sleep(0.5)
        print(f"{'pool of ' + str(pool) + ' warm after serve was ready':<44} {time.perf_counter() - boot:9.1f} s")
        print(row("session open (warm pool)", asyncio.run(session_open_times(url, 5))))

        trivial_service = asyncio.run(through_service(url, TRIVIAL, args.trivial_calls, None))
        trivial_local = in_process(TRIVIAL, args.trivial_calls, image)
        print(row("trivial call: HTTP API + runsc worker", trivial_service))
        print(row("trivial call: in-process exec", trivial_local))

        crop_service, crop_local = asyncio.run(interleaved(url, CROP, args.crop_calls, image))
        print(row("2000px JPEG open+crop+save: service", crop_service))
        print(row("2000px JPEG open+crop+save: in-process", crop_local))
        ratio = statistics.median(crop_service) / statistics.median(crop_local)
        print(f"{'crop ratio service / in-process (p50)':<44} {ratio:9.2f} x   (target <= 1.5)")

        wall, calls, errors = asyncio.run(concurrent(url, args.concurrency, args.calls, image))
        print(f"{f'{args.concurrency} concurrent sessions x {args.calls} crop calls':<44} "
              f"{calls / wall:9.1f} calls/s   wall {wall:.1f} s   errors {errors}")
    finally:
        proc.terminate()
        proc.wait(60)


if __name__ == "__main__":
    main()
