"""Uploads that overlap with decoding, with a cap on the bytes waiting to be stored.

Why a cap: the pool decodes faster than a slow or restarting store accepts objects;
without back-pressure, finished images would pile up in memory until the pod is
OOM-killed. `submit` blocks once `max_bytes` are queued. Any failed upload (after the
store's own retries) is raised by `drain`, so a shard with a missing image is never
committed.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from thyme_jobs import store as stores


class Uploader:
    def __init__(self, store: stores.ArtifactStore, threads: int = 4, max_bytes: int = 32 << 20) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="upload")
        self._room = threading.Condition()
        self._queued = 0
        self._pending: set[Future] = set()
        self._failed: list[BaseException] = []

    def submit(self, key: str, data: bytes) -> None:
        with self._room:
            # One object bigger than the cap still goes, alone.
            self._room.wait_for(lambda: self._queued == 0 or self._queued + len(data) <= self.max_bytes)
            self._queued += len(data)
        self._raise_failures()
        future = self._pool.submit(self.store.put_bytes, key, data)
        with self._room:
            self._pending.add(future)  # before the callback is attached, so it cannot run first
        future.add_done_callback(lambda f, n=len(data): self._finished(f, n))

    def _finished(self, future: Future, size: int) -> None:
        with self._room:
            self._queued -= size
            self._pending.discard(future)
            if future.exception() is not None:
                self._failed.append(future.exception())
            self._room.notify_all()

    def _raise_failures(self) -> None:
        if self._failed:
            raise self._failed[0]

    def drain(self) -> None:
        """Wait until everything submitted is stored; raise the first failure."""
        with self._room:
            self._room.wait_for(lambda: not self._pending)
        self._raise_failures()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "Uploader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
