"""The warm pool: workers booted ahead of demand, each used by one session, then discarded.

Booting a worker (gVisor plus importing numpy, cv2 and Pillow) takes about a second of
CPU; a rollout opens a session per trajectory and cannot wait for that. The pool keeps
`size` ready workers and refills in the background, at most `max_starts` at a time so a
refill burst does not starve the calls running on the same cores. A worker is never
reused: whatever a session did to its process and scratch directory leaves with it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from thyme_sandbox.errors import PoolExhausted, WorkerFailed
from thyme_sandbox.launching import ProcessLauncher, RunscLauncher, WorkerProcess
from thyme_sandbox.metrics import SandboxMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolSettings:
    size: int = 4
    max_workers: int = 64
    max_starts: int = 2
    start_timeout: float = 120.0
    acquire_timeout: float = 30.0


class WorkerPool:
    def __init__(self, launcher: RunscLauncher | ProcessLauncher, settings: PoolSettings,
                 metrics: SandboxMetrics) -> None:
        self.launcher, self.settings, self.metrics = launcher, settings, metrics
        self.idle: list[WorkerProcess] = []
        self.busy = 0
        self.starting = 0
        self.waiting = 0  # callers in acquire(): demand beyond the warm size
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task] = set()      # worker starts: cancelled at shutdown
        self._reaping: set[asyncio.Task] = set()    # kills of used workers: awaited at shutdown
        self._refill: asyncio.Task | None = None
        self._closed = False
        self.start_failures = 0
        self.ever_started = False

    async def start(self) -> None:
        self._refill = asyncio.create_task(self._refill_loop(), name="sandbox-pool-refill")

    @property
    def ready(self) -> bool:
        """Able to serve: a worker is idle, or workers boot fine and one is merely busy.

        Not "idle now": under load the pool is empty by design, and a readiness probe that
        flapped then would pull a working replica out of its Service.
        """
        return bool(self.idle) or (self.ever_started and self.start_failures == 0)

    async def wait_full(self, timeout: float) -> None:
        """Wait until `size` workers are idle: readiness for benchmarks and tests."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.idle) >= self.settings.size), timeout)

    async def acquire(self) -> WorkerProcess:
        """A ready worker, now or within `acquire_timeout`; PoolExhausted otherwise."""
        deadline = time.monotonic() + self.settings.acquire_timeout
        async with self._changed:
            while not self.idle:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    self.metrics.pool_exhausted.inc()
                    raise PoolExhausted(
                        f"no sandbox worker became free within {self.settings.acquire_timeout:g}s "
                        f"({self.busy} busy, {self.starting} starting, max {self.settings.max_workers}); "
                        "close finished sessions, raise --max-workers, or add replicas")
                self.waiting += 1
                self._changed.notify_all()  # wake the refill loop: demand exceeds the pool
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    pass
                finally:
                    self.waiting -= 1
            worker = self.idle.pop(0)
            self.busy += 1
            self._update_gauges()
            self._changed.notify_all()
        return worker

    async def discard(self, worker: WorkerProcess) -> None:
        """Kill a worker that served its session; the refill loop replaces it.

        The SIGKILL happens before this returns, so a timed-out call answers at once;
        `runsc delete` and removing the scratch directory finish in the background.
        """
        async with self._changed:
            self.busy -= 1
            self._changed.notify_all()
        worker.signal_kill()
        task = asyncio.create_task(worker.kill())
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)

    async def close(self, grace: float = 10.0) -> None:
        """Stop refilling and kill idle and starting workers; sessions close their own."""
        self._closed = True
        if self._refill:
            self._refill.cancel()
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            log.info("sandbox pool: cancelled %d worker start(s) at shutdown", len(pending))
        await asyncio.gather(*pending, return_exceptions=True)
        # A kill cut short would leave its `runsc delete` child running; let them finish.
        idle, self.idle = self.idle, []
        await asyncio.wait_for(asyncio.gather(*self._reaping, *(w.kill() for w in idle), return_exceptions=True), grace)

    def _wanted(self) -> int:
        s = self.settings
        # Keep `size` idle, and start one more for each caller already waiting.
        room = s.max_workers - (len(self.idle) + self.busy + self.starting)
        short = max(s.size - len(self.idle), self.waiting) - self.starting
        return max(0, min(short, room, s.max_starts - self.starting))

    async def _refill_loop(self) -> None:
        while not self._closed:
            async with self._changed:
                await self._changed.wait_for(lambda: self._wanted() > 0 or self._closed)
                for _ in range(self._wanted()):
                    self.starting += 1
                    task = asyncio.create_task(self._start_one())
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                self._update_gauges()

    async def _start_one(self) -> None:
        started = time.perf_counter()
        worker: WorkerProcess | None = None
        try:
            worker = await self.launcher.start()
            await worker.wait_ready(self.settings.start_timeout)
        except (WorkerFailed, TimeoutError, OSError) as exc:
            self.start_failures += 1
            log.error("sandbox worker failed to start: %s", exc)
            if worker is not None:
                await worker.kill()
            await asyncio.sleep(min(30.0, 0.5 * 2 ** min(self.start_failures, 6)))  # back off, do not spin
            worker = None
        except asyncio.CancelledError:
            if worker is not None:
                doomed, worker = worker, None
                await doomed.kill()
            raise
        finally:
            async with self._changed:
                self.starting -= 1
                if worker is not None:
                    self.start_failures, self.ever_started = 0, True
                    self.metrics.cold_start.observe(time.perf_counter() - started)
                    self.idle.append(worker)
                self._update_gauges()
                self._changed.notify_all()

    def _update_gauges(self) -> None:
        self.metrics.pool_idle.set(len(self.idle))
        self.metrics.pool_starting.set(self.starting)
