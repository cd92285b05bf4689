"""A real MinIO server on a free loopback port with generated credentials."""

from __future__ import annotations

import secrets
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from testenv import binaries, processes


@dataclass
class MinioServer:
    data_dir: Path
    log: Path
    port: int = field(default_factory=processes.free_port)
    access_key: str = field(default_factory=lambda: "thyme" + secrets.token_hex(4))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: Popen | None = None

    @property
    def endpoint(self) -> str:
        """host:port, the form the minio SDK takes."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def start(self) -> "MinioServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        console = processes.free_port()
        self.proc = processes.start(
            [binaries.binary("minio"), "server", self.data_dir, "--address", self.endpoint,
             "--console-address", f"127.0.0.1:{console}", "--quiet"],
            self.log,
            env={"MINIO_ROOT_USER": self.access_key, "MINIO_ROOT_PASSWORD": self.secret_key,
                 "MINIO_BROWSER": "off", "MINIO_UPDATE": "off"},
        )
        processes.wait_until(self._ready, 60, "minio", self.proc, self.log)
        return self

    def _ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/minio/health/ready", timeout=1) as resp:
            return resp.status == 200

    def stop(self) -> None:
        if self.proc is not None:
            processes.stop(self.proc)
            self.proc = None

    def restart(self) -> None:
        """Stop and start on the same port and data: what a pod restart looks like."""
        self.stop()
        self.start()

    def client(self):
        from minio import Minio

        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False)

    def env(self) -> dict[str, str]:
        """The environment our store reads its S3 settings from."""
        return {
            "THYME_S3_ENDPOINT": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }
