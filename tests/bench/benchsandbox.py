"""The sandbox a benchmark talks to: `--sandbox-url` when given, else an in-process service
started for the run (and stopped after it), so each bench measures the same real sandbox."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sandbox_url(args: argparse.Namespace) -> Iterator[str]:
    if args.sandbox_url is not None:
        yield args.sandbox_url
        return
    from thyme_sandbox.serving import InProcessServer
    from thyme_sandbox.settings import SandboxSettings

    server = InProcessServer(SandboxSettings(launcher=args.launcher, pool_size=args.pool_size)).start()
    try:
        yield server.url
    finally:
        server.stop()
