"""The artifact store: one small interface over a local directory or an S3 bucket.

Every stage reads its inputs and writes its outputs through this interface, so the
same program runs on a laptop (local directory, the embedded default) and in a pod
(MinIO or any S3). Keys are '/'-separated paths relative to the store's root.

Two guarantees the stages build on:
- a put is all-or-nothing: a reader never sees half an object (local files are
  written to a temporary name and renamed; an S3 PUT is atomic), so a manifest
  written last is a commit point;
- S3 calls ride out a store that restarts: connection errors and 5xx answers are
  retried with backoff for up to `THYME_S3_RETRY_SECONDS` (default 120 s) before
  the error reaches the caller.

S3 settings come from the environment, as the operator injects them from the
ThymeRun's Secret: `THYME_S3_ENDPOINT` (http(s)://host:port), `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, optional `AWS_REGION`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlparse

log = logging.getLogger(__name__)
T = TypeVar("T")


class StoreError(RuntimeError):
    """A store operation failed for good (after retries, or a missing object)."""


class ObjectNotFound(StoreError, KeyError):
    """The key does not exist in the store."""

    def __init__(self, location: str) -> None:
        super().__init__(f"no object at {location}")
        self.location = location

    def __str__(self) -> str:  # KeyError would quote the message
        return f"no object at {self.location}"


class ArtifactStore(Protocol):
    """What every stage may do with stored artifacts."""

    def put_bytes(self, key: str, data: bytes) -> None: ...
    def put_file(self, key: str, path: str | os.PathLike) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def get_file(self, key: str, path: str | os.PathLike) -> None: ...
    def get_range(self, key: str, offset: int, length: int) -> bytes: ...
    def size(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> Iterator[str]: ...
    def delete(self, key: str) -> None: ...
    def child(self, prefix: str) -> "ArtifactStore": ...
    def location(self, key: str = "") -> str: ...


def join(*parts: str) -> str:
    """Join key parts with '/', ignoring empty parts and stray slashes."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def put_json(store: ArtifactStore, key: str, obj: Any) -> None:
    store.put_bytes(key, json.dumps(obj, indent=2, sort_keys=True).encode() + b"\n")


def get_json(store: ArtifactStore, key: str) -> Any:
    return json.loads(store.get_bytes(key))


def run_root(store: ArtifactStore, namespace: str, run: str) -> ArtifactStore:
    """The part of the store a ThymeRun owns: `runs/<namespace>/<run>/`."""
    return store.child(join("runs", namespace, run))


class LocalStore:
    """A directory on the local filesystem."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if path != self.root and self.root not in path.parents:
            raise StoreError(f"key {key!r} escapes the store root {self.root}")
        return path

    def location(self, key: str = "") -> str:
        return str(self._path(key)) if key else str(self.root)

    def put_bytes(self, key: str, data: bytes) -> None:
        self._atomic_write(key, lambda f: f.write(data))

    def put_file(self, key: str, path: str | os.PathLike) -> None:
        with open(path, "rb") as src:
            self._atomic_write(key, lambda f: shutil.copyfileobj(src, f, 1 << 20))

    def _atomic_write(self, key: str, write: Callable[[io.BufferedWriter], Any]) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFound(self.location(key)) from None

    def get_file(self, key: str, path: str | os.PathLike) -> None:
        src = self._path(key)
        if not src.is_file():
            raise ObjectNotFound(self.location(key))
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, path)

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset`: lets readers stream a large object (parquet)."""
        try:
            with open(self._path(key), "rb") as f:
                f.seek(offset)
                return f.read(length)
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFound(self.location(key)) from None

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(self.location(key))
        return path.stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        if base.is_file():
            yield prefix
            return
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(".") and name.endswith(".part"):
                    continue  # a write in progress is not an object yet
                yield Path(dirpath, name).relative_to(self.root).as_posix()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def child(self, prefix: str) -> "LocalStore":
        return LocalStore(self._path(prefix))


class S3Store:
    """A bucket (and key prefix) in MinIO or any S3, through the `minio` SDK."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", retry_seconds: float | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.retry_seconds = float(os.environ.get("THYME_S3_RETRY_SECONDS", 120)) if retry_seconds is None else retry_seconds

    def __repr__(self) -> str:
        return f"S3Store({self.location()!r})"

    def _key(self, key: str) -> str:
        return join(self.prefix, key)

    def location(self, key: str = "") -> str:
        return f"s3://{join(self.bucket, self._key(key))}"

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        """Run `call`, retrying transient failures (connection refused, 5xx) with backoff."""
        from minio.error import InvalidResponseError, S3Error, ServerError
        from urllib3.exceptions import HTTPError as Urllib3Error

        deadline = time.monotonic() + self.retry_seconds
        delay = 0.25
        while True:
            try:
                return call()
            except (S3Error, InvalidResponseError) as exc:
                if not _is_transient(exc):
                    raise  # the server answered with a definite error (NoSuchKey, AccessDenied)
                if time.monotonic() + delay > deadline:
                    raise StoreError(f"{what}: store unavailable for {self.retry_seconds:.0f}s: {exc}") from exc
                log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except (ServerError, Urllib3Error, ConnectionError, TimeoutError) as exc:
                if time.monotonic() + delay > deadline:
                    raise StoreError(f"{what}: store unreachable for {self.retry_seconds:.0f}s: {exc}") from exc
                log.warning("%s failed (%s); retrying in %.1fs", what, type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def ensure_bucket(self) -> None:
        if not self._retry(f"check bucket {self.bucket}", lambda: self.client.bucket_exists(self.bucket)):
            self._retry(f"create bucket {self.bucket}", lambda: self.client.make_bucket(self.bucket))

    def require_bucket(self, uri: str) -> None:
        """Raise StoreError naming `uri` when its bucket does not exist."""
        if not self._retry(f"check bucket {self.bucket}", lambda: self.client.bucket_exists(self.bucket)):
            raise StoreError(f"input {uri!r}: bucket {self.bucket!r} does not exist; "
                             "check the URI (inputs are read, never created)")

    def put_bytes(self, key: str, data: bytes) -> None:
        self._retry(f"put {self.location(key)}", lambda: self.client.put_object(
            self.bucket, self._key(key), io.BytesIO(data), len(data)))

    def put_file(self, key: str, path: str | os.PathLike) -> None:
        self._retry(f"put {self.location(key)}", lambda: self.client.fput_object(self.bucket, self._key(key), str(path)))

    def get_bytes(self, key: str) -> bytes:
        return self._read(key)

    def get_file(self, key: str, path: str | os.PathLike) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._not_found_as(key, lambda: self._retry(
            f"get {self.location(key)}", lambda: self.client.fget_object(self.bucket, self._key(key), str(path))))

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset` (a ranged GET, retried like every call)."""
        if length <= 0:
            return b""
        return self._read(key, offset=offset, length=length)

    def _read(self, key: str, **byte_range: int) -> bytes:
        """GET the object (or the given `offset`/`length` of it), retried, with the connection handed back."""
        def get() -> bytes:
            resp = self.client.get_object(self.bucket, self._key(key), **byte_range)
            try:
                return resp.read()
            finally:
                resp.close()
                resp.release_conn()

        return self._not_found_as(key, lambda: self._retry(f"get {self.location(key)}", get))

    def size(self, key: str) -> int:
        stat = self._not_found_as(key, lambda: self._retry(
            f"stat {self.location(key)}", lambda: self.client.stat_object(self.bucket, self._key(key))))
        return int(stat.size)

    def _not_found_as(self, key: str, call: Callable[[], T]) -> T:
        from minio.error import S3Error

        try:
            return call()
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                raise ObjectNotFound(self.location(key)) from None
            raise

    def exists(self, key: str) -> bool:
        from minio.error import S3Error

        try:
            self._retry(f"stat {self.location(key)}", lambda: self.client.stat_object(self.bucket, self._key(key)))
            return True
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
                return False
            raise

    def list(self, prefix: str = "") -> Iterator[str]:
        full = self._key(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        names = self._retry(f"list {self.location(prefix)}", lambda: [
            o.object_name for o in self.client.list_objects(self.bucket, prefix=full, recursive=True)])
        for name in sorted(names):
            yield name[strip:]

    def delete(self, key: str) -> None:
        self._retry(f"delete {self.location(key)}", lambda: self.client.remove_object(self.bucket, self._key(key)))

    def child(self, prefix: str) -> "S3Store":
        return S3Store(self.client, self.bucket, join(self.prefix, prefix), self.retry_seconds)


# Answers a restarting or overloaded server gives; they mean "try again", not "no".
_TRANSIENT_CODES = {"XMinioServerNotInitialized", "ServiceUnavailable", "SlowDown", "InternalError",
                    "RequestTimeout", "XMinioReadQuorum", "XMinioWriteQuorum"}


def _is_transient(exc: Exception) -> bool:
    """A 5xx or a known try-again code: MinIO answers 503 with XML while it starts up."""
    status = getattr(getattr(exc, "response", None), "status", None) or getattr(exc, "_code", None)
    return getattr(exc, "code", None) in _TRANSIENT_CODES or (isinstance(status, int) and status >= 500)


def s3_client_from_env(endpoint: str | None = None) -> Any:
    """A minio client from THYME_S3_ENDPOINT and the AWS_* credentials."""
    from minio import Minio

    endpoint = endpoint or os.environ.get("THYME_S3_ENDPOINT")
    if not endpoint:
        raise StoreError("an s3:// store needs THYME_S3_ENDPOINT (e.g. http://minio:9000) in the environment")
    url = urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not access or not secret:
        raise StoreError("an s3:// store needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
    return Minio(url.netloc, access_key=access, secret_key=secret, secure=url.scheme == "https",
                 region=os.environ.get("AWS_REGION") or None)


def open_store(uri: str, *, read_only: bool = False) -> ArtifactStore:
    """A store from a URI: `s3://bucket/prefix`, `file:///dir`, or a plain path.

    A store the stage writes (the run root) gets its bucket created when missing. An
    input it only reads (`read_only=True`: the base model, the dataset dump) never does:
    a typo'd bucket there would otherwise become a new, empty bucket and the stage would
    fail later with "no object" somewhere inside it, so it is an error naming the URI."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StoreError(f"store URI {uri!r} names no bucket; expected s3://bucket/prefix")
        store = S3Store(s3_client_from_env(), parsed.netloc, parsed.path)
        if read_only:
            store.require_bucket(uri)
        else:
            store.ensure_bucket()
        return store
    if parsed.scheme in ("file", ""):
        path = parsed.path if parsed.scheme == "file" else uri
        if read_only and not Path(path).exists():
            raise StoreError(f"input {uri!r} does not exist")
        return LocalStore(path)
    raise StoreError(f"store URI {uri!r}: unsupported scheme {parsed.scheme!r}; use s3://, file:// or a path")
