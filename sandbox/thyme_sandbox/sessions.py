"""Sessions: one per trajectory, one worker each, calls serialised, dead after a kill.

This is where the contract's statuses are decided. The worker reports ok, error and oom
itself; timeout and killed are decided here, from outside, because a worker that is
looping, blocking signals or already dead cannot be asked. After a timeout or a kill the
session's worker is gone and so is its state, so the session stays dead and every
later call says so (error type SessionDead) instead of silently running in a fresh
namespace where the model's variables no longer exist.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from thyme_sandbox import preprocess
from thyme_sandbox.errors import BadImage, SessionNotFound, WorkerFailed, WrongReplica
from thyme_sandbox.launching import WorkerProcess
from thyme_sandbox.metrics import SandboxMetrics
from thyme_sandbox.pool import WorkerPool
from thyme_sandbox.protocol import ErrorInfo, RunResult

log = logging.getLogger(__name__)

# runsc and a plain child both report death by signal N as 128 + N (or -N from asyncio).
SIGXCPU, SIGKILL = 24, 9
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tiff")


@dataclass(frozen=True)
class CallSettings:
    call_timeout: float = 10.0
    idle_timeout: float = 600.0
    scratch_bytes: int = 256 << 20


@dataclass
class Session:
    id: str
    worker: WorkerProcess
    facts: preprocess.ImageFacts
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = field(default_factory=time.monotonic)
    dead: str | None = None
    released: bool = False  # the worker went back to the pool (killed) before the session closed
    calls: int = 0


ImageSink = Callable[[str, int, list[bytes]], list[str]]


def image_facts(data: bytes) -> tuple[str, int, int]:
    """Suffix, width and height of an input image, read from its header only."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height, fmt = image.width, image.height, (image.format or "PNG").lower()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise BadImage(f"the session image is not a readable image: {exc}") from None
    return {"jpeg": ".jpg", "mpo": ".jpg"}.get(fmt, "." + fmt), width, height


def dead_result(session: Session) -> RunResult:
    return RunResult(status="error", error=ErrorInfo(
        type="SessionDead", message=f"{session.dead}; this session's variables are gone, open a new session"))


class SessionManager:
    def __init__(self, pool: WorkerPool, settings: CallSettings, metrics: SandboxMetrics,
                 image_sink: ImageSink | None = None) -> None:
        self.pool, self.settings, self.metrics = pool, settings, metrics
        self.image_sink = image_sink
        self.sessions: dict[str, Session] = {}
        # Prefix of every session id opened here, so a call that reached the wrong
        # replica is told so (421) instead of "no such session".
        self.replica = secrets.token_hex(4)

    async def create(self, image: bytes | None) -> str:
        facts = image_facts(image) if image is not None else None
        worker = await self.pool.acquire()
        try:
            input_path = None
            if image is not None and facts is not None:
                name = "image" + facts[0]
                (worker.dirs.input / name).write_bytes(image)
                input_path = f"{worker.inside_input}/{name}"
            await worker.request({"op": "init", "input_path": input_path, "out_dir": worker.inside_out},
                                 self.settings.call_timeout)
        except (WorkerFailed, TimeoutError):
            await self.pool.discard(worker)
            raise WorkerFailed("a sandbox worker died while its session was being opened; retry") from None
        session = Session(
            id=f"{self.replica}-{secrets.token_hex(12)}", worker=worker,
            facts=preprocess.ImageFacts(input_path=input_path, width=facts[1] if facts else None,
                                        height=facts[2] if facts else None, output_dir=worker.inside_out))
        self.sessions[session.id] = session
        self.metrics.sessions.set(len(self.sessions))
        return session.id

    def get(self, session_id: str) -> Session:
        try:
            return self.sessions[session_id]
        except KeyError:
            if not session_id.startswith(self.replica + "-"):
                raise WrongReplica(session_id, self.replica) from None
            raise SessionNotFound(session_id) from None

    async def close(self, session_id: str) -> None:
        session = self.get(session_id)
        self.sessions.pop(session_id, None)
        self.metrics.sessions.set(len(self.sessions))
        async with session.lock:
            if not session.released:
                session.released = True
                await self.pool.discard(session.worker)

    async def close_all(self) -> None:
        await asyncio.gather(*(self.close(s) for s in list(self.sessions)), return_exceptions=True)

    async def reap_idle(self) -> int:
        """Close sessions unused for `idle_timeout`: trainers crash without saying goodbye."""
        cutoff = time.monotonic() - self.settings.idle_timeout
        stale = [s.id for s in self.sessions.values() if s.last_used < cutoff and not s.lock.locked()]
        for session_id in stale:
            log.info("sandbox session %s closed after %.0fs idle", session_id, self.settings.idle_timeout)
            await self.close(session_id)
        return len(stale)

    async def run(self, session_id: str, text: str) -> RunResult:
        session = self.get(session_id)
        async with session.lock:
            started = time.perf_counter()
            result = await self._run_locked(session, text)
            result.wall_seconds = time.perf_counter() - started
            session.last_used = time.monotonic()
            session.calls += 1
        self.metrics.calls.labels(result.status).inc()
        self.metrics.latency.observe(result.wall_seconds)
        if result.status == "timeout":
            self.metrics.timeouts.inc()
        elif result.status == "oom":
            self.metrics.oom_kills.inc()
        return result

    async def _run_locked(self, session: Session, text: str) -> RunResult:
        if session.dead:
            return dead_result(session)
        worker = session.worker
        try:
            prepared = preprocess.prepare(text, session.facts, lambda p: _existing_image(worker, p))
        except SyntaxError as exc:
            return RunResult(status="error", error=ErrorInfo(type=type(exc).__name__, message=str(exc.msg),
                                                             line=exc.lineno))
        try:
            reply, blobs = await worker.request(
                {"op": "run", "code": prepared.code, "make_dirs": prepared.make_dirs}, self.settings.call_timeout)
        except TimeoutError:
            await self._kill(session, f"the call ran past the {self.settings.call_timeout:g}s wall-time limit "
                                      "and its worker was stopped")
            return RunResult(status="timeout", error=ErrorInfo(
                type="Timeout", message=f"execution timed out after {self.settings.call_timeout:g} seconds"))
        except WorkerFailed:
            code = await worker.exit_code()
            status, message = _death(code)
            await self._kill(session, message)
            return RunResult(status=status, error=ErrorInfo(type="WorkerDied" if status == "killed" else "CPULimit",
                                                            message=message))
        result = RunResult(status=reply["status"], stdout=reply["stdout"], stdout_truncated=reply["stdout_truncated"],
                           error=ErrorInfo(**reply["error"]) if reply.get("error") else None)
        if self.image_sink is not None and blobs:
            result.image_keys = self.image_sink(session.id, session.calls, blobs)
        else:
            result.images = [base64.b64encode(b).decode() for b in blobs]
        # Measured here, on the host side of the worker's directory: a worker's own count
        # is whatever its user code makes it say.
        used = await asyncio.to_thread(scratch_bytes, worker.dirs.out)
        if used > self.settings.scratch_bytes:
            await self._kill(session, f"the session wrote {used} bytes to its scratch directory, "
                                      f"over the {self.settings.scratch_bytes} byte limit")
            result.status, result.error = "error", ErrorInfo(type="ScratchQuotaExceeded", message=session.dead or "")
        return result

    async def _kill(self, session: Session, reason: str) -> None:
        session.dead = reason
        session.released = True
        await self.pool.discard(session.worker)


def scratch_bytes(root: os.PathLike[str] | str) -> int:
    """Bytes of every file under `root`, links not followed (a link counts as itself)."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            total += max(info.st_size, info.st_blocks * 512)  # sparse files count at their size
    return total


def _death(code: int | None) -> tuple[str, str]:
    if code in (128 + SIGXCPU, -SIGXCPU):
        return "timeout", "the session used up its CPU-time limit and its worker was stopped"
    return "killed", f"the worker died during the call (exit status {code}); the session is gone"


def _existing_image(worker: WorkerProcess, path: str) -> bool:
    """Keep an `image_path` literal only when it names an image this session can open."""
    mapped = path.replace(preprocess.OUTPUT_PREFIX, worker.inside_out.rstrip("/") + "/")
    host = worker.host_path(mapped)
    if host is None or not mapped.lower().endswith(IMAGE_SUFFIXES):
        return False
    try:
        return os.path.isfile(host) and not os.path.islink(host)
    except OSError:
        return False
