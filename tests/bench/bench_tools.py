"""Benchmark of the tool servers: N trajectories calling tools concurrently vs one call after another.

    VENV=$(bash tests/env/python-env.sh)
    PYTHONPATH=tools $VENV/bin/python tests/bench/bench_tools.py                 # under a minute on 2 cores
    PYTHONPATH=tools $VENV/bin/python tests/bench/bench_tools.py --trajectories 32 --rounds 6 --replicas 2

OpenThinkIMG's RL loop makes every tool call of a step on rank 0, one after another
(research notes, A4). Here the same calls go out from N concurrent trajectories, each
making `rounds` calls in sequence (a trajectory's next call waits for its observation),
against the same workers on the same machine, in one run. Each trajectory alternates
Crop and DrawHorizontalLineByY on a 1024x768 JPEG. Reported: tool calls per second for
both schedules, and the p50/p99 latency of a Crop call, alone and under the concurrent
load. Workers run as `thyme tools serve` subprocesses (`--replicas` per tool, spread
round-robin as a Service would), so client and servers do not share a GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for testenv

from PIL import Image  # noqa: E402

from testenv.processes import free_port, stop  # noqa: E402
from thyme_tools import serving  # noqa: E402
from thyme_tools.client import ToolClient  # noqa: E402

TOOLS = ("Crop", "DrawHorizontalLineByY")
CALLS = {"Crop": "[100, 80, 612, 464]", "DrawHorizontalLineByY": "y=42.5"}


def photo_b64() -> str:
    image = Image.linear_gradient("L").resize((1024, 768)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return base64.b64encode(buffer.getvalue()).decode()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class RoundRobin:
    """Spreads one tool's calls over its replicas, as a ClusterIP Service would."""

    def __init__(self, clients: dict[str, list[ToolClient]]) -> None:
        self.cycles = {tool: itertools.cycle(cs) for tool, cs in clients.items()}

    async def call(self, tool: str, image: str, latencies: dict[str, list[float]]) -> None:
        start = time.perf_counter()
        answer = await next(self.cycles[tool]).call(tool, CALLS[tool], image)
        latencies[tool].append(time.perf_counter() - start)
        if answer.error_code:
            raise RuntimeError(f"{tool} answered {answer.error_code}: {answer.text}")


async def trajectory(pool: RoundRobin, image: str, rounds: int, latencies: dict[str, list[float]], offset: int) -> None:
    for r in range(rounds):
        await pool.call(TOOLS[(r + offset) % len(TOOLS)], image, latencies)


async def measure(pool: RoundRobin, image: str, trajectories: int, rounds: int, concurrent: bool) -> tuple[float, dict]:
    latencies: dict[str, list[float]] = {t: [] for t in TOOLS}
    start = time.perf_counter()
    if concurrent:
        await asyncio.gather(*(trajectory(pool, image, rounds, latencies, i) for i in range(trajectories)))
    else:
        for i in range(trajectories):
            await trajectory(pool, image, rounds, latencies, i)
    return trajectories * rounds / (time.perf_counter() - start), latencies


async def bench(args: argparse.Namespace, urls: dict[str, list[str]]) -> None:
    image = photo_b64()
    clients = {tool: [ToolClient({tool: url}, max_connections=args.trajectories) for url in tool_urls]
               for tool, tool_urls in urls.items()}
    pool = RoundRobin(clients)
    try:
        await measure(pool, image, 2, 2, concurrent=False)  # warm connections and code paths
        sequential, seq_lat = await measure(pool, image, args.trajectories, args.rounds, concurrent=False)
        concurrent, con_lat = await measure(pool, image, args.trajectories, args.rounds, concurrent=True)
    finally:
        for cs in clients.values():
            for c in cs:
                await c.aclose()
    calls = args.trajectories * args.rounds
    print(f"tool servers: {len(TOOLS)} tools x {args.replicas} replica(s), max_concurrency {args.trajectories}, "
          f"{args.trajectories} trajectories x {args.rounds} rounds = {calls} calls per schedule, 1024x768 JPEG")
    print(f"  one after another (OpenThinkIMG's RL loop): {sequential:8.1f} calls/s")
    print(f"  {args.trajectories} concurrent trajectories:          {concurrent:8.1f} calls/s "
          f"({concurrent / sequential:.2f}x)")
    for label, lat in (("alone", seq_lat), ("under concurrent load", con_lat)):
        crop = lat["Crop"]
        print(f"  Crop latency {label:22s} p50 {pct(crop, 0.5) * 1e3:7.2f} ms   p99 {pct(crop, 0.99) * 1e3:7.2f} ms "
              f"(n={len(crop)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=6, help="tool calls per trajectory (OpenThinkIMG's RL: 6)")
    parser.add_argument("--replicas", type=int, default=1, help="worker processes per tool")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-tools-"))
    procs, urls = [], {tool: [] for tool in TOOLS}
    try:
        for tool in TOOLS:
            for i in range(args.replicas):
                port = free_port()
                proc = serving.spawn("serve", ["--tool", tool, "--port", str(port),
                                               "--max-concurrency", str(args.trajectories)], logs / f"{tool}-{i}.log")
                procs.append(proc)
                url = f"http://127.0.0.1:{port}"
                serving.wait_ready(url, timeout=120, proc=proc)
                urls[tool].append(url)
        asyncio.run(bench(args, urls))
    finally:
        for proc in procs:
            stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
