"""Where facts objects live: a directory or an S3 prefix, one run per location.

    DIR/<run-id>/run.json                 s3://bucket/prefix/<run-id>/run.json
    DIR/<run-id>/nodes/<node>.json        s3://bucket/prefix/<run-id>/nodes/<node>.json

The location's last segment is the run id: every envelope under it must carry that run id, so an
object copied from another run is refused, not judged. Writes are atomic (a temp file renamed in
place; an S3 PUT is all or nothing), so a reader never sees half an object. Reads are bounded and
never follow symlinks.

S3: boto3's normal credential chain (EKS Pod Identity in the cluster, the user's profile or SSO on a
controller) and its endpoint settings (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` for MinIO or a
test server). Writes and the run manifest go through one boto3 client (thread-safe; a few retries
in standard mode: S3 answers 503 SlowDown under bursts); the listing and the node objects, 10,000 of
them at fleet scale, through validators/facts/s3_http.py on the route botocore chose for the manifest.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from policies.errors import ConfigError
from validators.facts.envelope import run_id_problem

NODES = "nodes"
MANIFEST = "run.json"
SUFFIX = ".json"


@dataclass(frozen=True)
class StoredObject:
    name: str  # the part after nodes/, e.g. "gpu-0.json" (not yet checked as a node name)
    size: int
    written: datetime  # the store's own clock (S3 LastModified, the file's mtime)


class Missing(Exception):
    """The object does not exist."""


class FactsStore(Protocol):
    location: str
    run_id: str
    local: bool  # read in the judging thread (a file read is cheaper than a hand-over to a fetch thread)

    def put(self, name: str, data: bytes) -> None: ...  # name: "<node>.json" under nodes/

    def put_manifest(self, data: bytes) -> None: ...

    def list(self) -> Iterator[StoredObject]: ...

    def get(self, name: str, limit: int) -> bytes: ...  # at most limit + 1 bytes; Missing

    def get_manifest(self, limit: int) -> tuple[bytes, datetime] | None: ...

    def reopen(self) -> None: ...  # in a forked worker: its own connections, none shared with the parent


def _run_id(location: str, last: str) -> str:
    problem = run_id_problem(last)
    if problem:
        raise ConfigError(f"{location}: the last segment names the run: {problem}")
    return last


def _read_limited(fd: int, limit: int) -> bytes:
    chunks, total = [], 0
    while total <= limit:
        chunk = os.read(fd, min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


class DirStore:
    """A run directory (local disk, or NFS/FSx shared by the nodes)."""

    local = True  # on NFS each read is a round trip or two (~0.3 ms in a VPC): still less than a hand-over costs
    def __init__(self, location: str) -> None:
        self.location = location
        self.root = Path(location).expanduser()
        self.run_id = _run_id(location, self.root.resolve().name)
        self.nodes = self.root / NODES

    def _write(self, directory: Path, name: str, data: bytes) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, directory / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put(self, name: str, data: bytes) -> None:
        self._write(self.nodes, name, data)

    def put_manifest(self, data: bytes) -> None:
        self._write(self.root, MANIFEST, data)

    def list(self) -> Iterator[StoredObject]:
        try:
            entries = os.scandir(self.nodes)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(f"{self.location}: cannot list {self.nodes}: {exc.strerror or exc}") from None
        with entries:
            for entry in entries:
                if entry.name.startswith("."):  # an agent's write in progress (temp file)
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                yield StoredObject(entry.name, st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc))

    def _read(self, path: Path, limit: int) -> bytes:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            raise Missing(str(path)) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(f"{path.name} is not a regular file")
            return _read_limited(fd, limit)
        finally:
            os.close(fd)

    def get(self, name: str, limit: int) -> bytes:
        return self._read(self.nodes / name, limit)

    def get_manifest(self, limit: int) -> tuple[bytes, datetime] | None:
        path = self.root / MANIFEST
        try:
            data = self._read(path, limit)
            written = datetime.fromtimestamp(os.stat(path, follow_symlinks=False).st_mtime, timezone.utc)
        except Missing:
            return None
        except OSError as exc:  # ELOOP: a symlink
            raise ConfigError(f"{self.location}: cannot read {MANIFEST}: {exc.strerror or exc}") from None
        return data, written

    def reopen(self) -> None:  # files are opened per read: nothing is shared
        pass


_S3 = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+?)/?$")


def s3_session_client(max_pool: int = 64) -> tuple[Any, Any]:
    """A botocore session (the normal credential chain and configuration) and a boto3 S3 client on it."""
    import boto3.session
    import botocore.session
    from botocore.config import Config

    core = botocore.session.Session()
    session = boto3.session.Session(botocore_session=core)
    return core, session.client("s3", config=Config(
        connect_timeout=5, read_timeout=30, max_pool_connections=max_pool,
        retries={"mode": "standard", "total_max_attempts": 3},
        region_name=session.region_name or "us-east-1"))


class S3Store:
    """A run prefix in a bucket. Writes (the agent) and the run manifest go through boto3; once
    botocore has sent the manifest's GET, the listing and the node objects go through
    :class:`~validators.facts.s3_http.S3Http` on the route botocore chose (``lean=False``, a proxy,
    or a request that is not plain SigV4: boto3 for everything)."""

    local = False  # each GET waits a round trip: 64 in flight from fetch threads

    def __init__(self, location: str, max_pool: int = 64, lean: bool = True) -> None:
        m = _S3.match(location)
        if not m:
            raise ConfigError(f"{location}: expected s3://BUCKET/PREFIX/RUN-ID (a run prefix, not a bucket root)")
        self.location = location
        self.bucket, prefix = m.group(1), m.group(2)
        if any(part in ("", ".", "..") for part in prefix.split("/")):
            raise ConfigError(f"{location}: empty, '.' or '..' segments in the prefix")
        self.run_id = _run_id(location, prefix.rsplit("/", 1)[-1])
        self.prefix = prefix + "/"
        self._session: Any = None  # the botocore session under the client
        self._client: Any = None
        self._max_pool = max_pool
        self._lean = lean
        self._http: Any = None  # S3Http once the manifest's request showed the route
        self.read_path = "boto3 (no manifest read yet)"  # which path reads the objects, and why

    @property
    def client(self) -> Any:
        if self._client is None:
            self._session, self._client = s3_session_client(self._max_pool)
        return self._client

    def put(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}{NODES}/{name}", Body=data,
                               ContentType="application/json")

    def put_manifest(self, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + MANIFEST, Body=data, ContentType="application/json")

    def list(self) -> Iterator[StoredObject]:
        start = f"{self.prefix}{NODES}/"
        if self._http is not None:
            for key, size, written in self._http.list(start):
                yield StoredObject(key[len(start):], size, written)
            return
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
        for page in pages:
            for obj in page.get("Contents", []):
                yield StoredObject(obj["Key"][len(start):], int(obj.get("Size", 0)), obj["LastModified"])

    def _get(self, key: str, limit: int) -> tuple[bytes, datetime]:
        from botocore.exceptions import ClientError

        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise Missing(key) from None
            raise
        body = resp["Body"]
        if int(resp.get("ContentLength", limit + 1)) <= limit:
            return body.read(), resp["LastModified"]  # read whole: the connection goes back to the pool
        with body:  # closed half-read: that connection is not reused
            return body.read(limit + 1), resp["LastModified"]

    def get(self, name: str, limit: int) -> bytes:
        key = f"{self.prefix}{NODES}/{name}"
        if self._http is None:
            return self._get(key, limit)[0]
        from validators.facts.s3_http import NotFound

        try:
            return self._http.get(key, limit)[0]
        except NotFound:
            raise Missing(key) from None

    def get_manifest(self, limit: int) -> tuple[bytes, datetime] | None:
        from validators.facts import s3_http

        key = self.prefix + MANIFEST
        sent: list[s3_http.Route | None] = []

        def seen(request: Any, **_: Any) -> None:  # botocore's before-send: the request as it goes out
            sent.append(s3_http.route_from_request(request.url, request.headers, key))

        events = self.client.meta.events
        events.register("before-send.s3.GetObject", seen)
        try:
            found = self._get(key, limit)
        except Missing:
            found = None
        finally:
            events.unregister("before-send.s3.GetObject", seen)
        self._http = self._lean_reader(sent[-1] if sent else None)  # the last try: after any region redirect
        return found

    def reopen(self) -> None:
        """In a forked worker: the inherited client and pool hold the parent's sockets; use neither.
        The route and the credentials (refreshed as they expire) carry over."""
        self._session = self._client = None
        if self._http is not None:
            self._http = self._http.reopened()

    def _lean_reader(self, route: Any) -> Any:
        from botocore.httpsession import get_cert_path

        from validators.facts.s3_http import S3Http, proxied

        config = self.client.meta.config
        if not self._lean or route is None or config.proxies or proxied(route.bucket_url) or config.client_cert:
            why = ("lean=False" if not self._lean else "the manifest request is not plain SigV4" if route is None
                   else "a client certificate is configured" if config.client_cert else "a proxy is configured")
            self.read_path = f"boto3 ({why})"
            return None
        # the CA bundle botocore's own client verifies with (ca_bundle / AWS_CA_BUNDLE, REQUESTS_CA_BUNDLE, certifi)
        verify = self._session.get_config_variable("ca_bundle") or os.environ.get("REQUESTS_CA_BUNDLE") or get_cert_path(True)
        self.read_path = f"signed HTTP/1.1 keep-alive pool to {route.bucket_url} ({route.region})"
        return S3Http(route, self._session.get_credentials(), pool_size=self._max_pool, verify=verify)


def open_store(location: str, max_pool: int = 64) -> FactsStore:
    """``s3://bucket/prefix/<run-id>`` or a directory path whose last segment is the run id."""
    if location.startswith("s3://"):
        return S3Store(location, max_pool=max_pool)
    if "://" in location:
        raise ConfigError(f"{location}: expected a directory or s3://BUCKET/PREFIX/RUN-ID")
    return DirStore(location)


__all__ = ["MANIFEST", "NODES", "SUFFIX", "DirStore", "FactsStore", "Missing", "S3Store", "StoredObject",
           "open_store", "s3_session_client"]
