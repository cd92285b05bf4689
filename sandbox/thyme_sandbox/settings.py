"""Settings of one sandbox service, checked once, apart from the running service.

The CLI, the in-process test launcher and a cluster Deployment (through environment
variables, `THYME_SANDBOX_<FIELD>`) all build this one model, so a bad value fails at
start-up with the field's name instead of on the first call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class SandboxSettings(BaseModel):
    launcher: Literal["runsc", "process"] = Field(
        "runsc", description="runsc: each worker its own gVisor sandbox; process: plain workers, "
                             "only inside a pod that already runs under gVisor.")
    runsc: str | None = Field(None, description="Path of runsc; default: found on PATH.")
    state_dir: Path | None = Field(None, description="Workers' scratch and runsc state; default: a new temp dir.")
    pool_size: int = Field(4, ge=0, le=512, description="Warm workers kept ready.")
    max_workers: int = Field(64, ge=1, le=1024, description="Workers alive at once, busy or idle.")
    max_starts: int = Field(2, ge=1, le=64, description="Workers booting at once (booting is CPU-heavy).")
    acquire_timeout: float = Field(30.0, gt=0, description="How long opening a session waits for a worker.")
    call_timeout: float = Field(10.0, gt=0, le=600, description="Wall-time limit per call; Thyme used 10 s.")
    idle_timeout: float = Field(600.0, gt=0, description="Sessions unused this long are closed.")
    memory_bytes: int = Field(1 << 30, ge=16 << 20, description="Address space user code may add.")
    cpu_seconds: int = Field(120, ge=1, description="CPU seconds per session (RLIMIT_CPU).")
    processes: int = Field(16, ge=1, description="Processes and threads per worker (RLIMIT_NPROC).")
    file_bytes: int = Field(64 << 20, ge=1 << 20, description="Largest file a call may write (RLIMIT_FSIZE).")
    scratch_bytes: int = Field(256 << 20, ge=1 << 20, description="Bytes a session may keep in its scratch dir.")
    stdout_limit: int = Field(16384, ge=256, le=16 << 20, description="Characters of stdout kept per call.")
    replica_url: str | None = Field(
        None, pattern=r"^https?://[^\s/]+$",
        description="This replica's own base URL (in a pod: http://$(POD_IP):8080). Sessions opened here name it, "
                    "and clients send the session's calls to it: a Service balancing across replicas would send "
                    "them to pods that never saw the session.")
    images_to: Literal["inline", "store"] = Field(
        "inline", description="inline: images come back base64 in the result; store: written to store_uri.")
    store_uri: str | None = Field(None, description="Artifact store for images_to=store (s3://bucket/prefix).")
