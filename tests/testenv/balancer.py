"""A TCP load balancer that spreads connections round-robin, as a ClusterIP Service does.

kube-proxy picks a backend per connection and then leaves the connection alone; this
does the same over loopback so tests see what a Service in front of several sandbox
replicas does to a client, without a cluster. Runs on its own thread and event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import threading


class RoundRobinBalancer:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = itertools.cycle(backends)
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="balancer", daemon=True)
        self.server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> RoundRobinBalancer:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self.loop).result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self.server is not None
            self.server.close()
            for writer in list(self._open):  # ends both pipes of every connection
                writer.close()
            if self._handlers:
                await asyncio.wait(list(self._handlers), timeout=10)
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        host, port = next(self.backends)
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            self._handlers.discard(task)
            return
        self._open |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)
        finally:
            self._open -= {writer, up_writer}
            self._handlers.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass  # the other side went away: so does this side
    finally:
        writer.close()
