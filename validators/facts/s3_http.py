"""Reading a run's objects from S3 at fleet scale: ListObjectsV2 and GetObject as plain HTTP/1.1
requests over a keep-alive connection pool (urllib3, botocore's own HTTP library), each signed with
botocore's SigV4 signer.

Why not one boto3 call per object: a ``get_object`` costs ~2.3 ms of client CPU (parameter
validation, endpoint rules, event hooks, response parsing, a checksum wrapper round the body), this
path ~1 ms, and closing boto3's ``StreamingBody`` closes its connection, so every GET paid a new TCP
(and, against S3, TLS) handshake; at 10,000 nodes that is ~13 s of one core. Listing likewise:
botocore parses each 1,000-key page into dicts with parsed datetimes, here one ElementTree pass.

What stays botocore's, so it is never re-implemented here: credentials (boto3's normal chain,
refreshed as they expire), and where and how to send — the endpoint, path or virtual-host style,
FIPS/dual-stack, ``AWS_ENDPOINT_URL_S3``, region redirects, the signing region — read from the
request botocore itself sent for ``run.json`` (:func:`route_from_request`). Anything botocore would
not sign with plain SigV4 (S3 Express session tokens, SigV4a for multi-region access points, an
unsigned client), a proxy, or a client certificate keeps the boto3 path (validators/facts/store.py).
"""

from __future__ import annotations

import random
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit
from urllib.request import getproxies, proxy_bypass

import urllib3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest

ERROR_BODY_BYTES = 4096  # what is read of an error answer to name its S3 code
PAGE_BYTES = 4 * 1024 * 1024  # a ListObjectsV2 page of 1,000 keys is ~300 KB; a longer answer is refused


class S3HttpError(Exception):
    """A request the store answered with an error: ``str(exc)`` is ``HTTP 403 AccessDenied: …``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}".rstrip(": "))
        self.status = status
        self.code = code


class NotFound(S3HttpError):
    """404 NoSuchKey."""


THROTTLED = frozenset({429, 503})  # S3's SlowDown is a 503


class _BackoffRetry(urllib3.Retry):
    """urllib3's retry with botocore standard mode's delay (botocore/retries/standard.py
    ExponentialBackoff): ``rand(0, 1) * min(base * 2**i, 20 s)`` before retry i (0-based), base 1 s
    after a throttling answer and 50 ms after any other error. urllib3's own formula retries the
    first time at once and then waits ``backoff_factor * 2**i`` without jitter: against 503 SlowDown
    from a pool of threads that is the burst S3 asked to stop, repeated in lock step."""

    def get_backoff_time(self) -> float:
        history = list(self.history)
        errors = 0
        for h in reversed(history):
            if h.redirect_location is not None:
                break
            errors += 1
        if errors == 0:
            return 0.0
        base = 1.0 if history[-1].status in THROTTLED else 0.05
        return random.random() * min(base * 2 ** (errors - 1), 20.0)


@dataclass(frozen=True)
class Route:
    """Where a bucket's objects are and how requests to it are signed, as botocore resolved them."""

    bucket_url: str  # "https://bucket.s3.us-east-1.amazonaws.com" or "http://127.0.0.1:9000/bucket"
    region: str  # the SigV4 signing region


def route_from_request(url: str, headers: Any, key: str) -> Route | None:
    """The route of a GetObject botocore prepared for ``key`` (its URL and headers as sent), or None
    when it is not a plain SigV4 request this module can repeat for other keys."""
    auth = headers.get("Authorization")
    if isinstance(auth, bytes):
        auth = auth.decode("ascii", "replace")
    if not isinstance(auth, str) or not auth.startswith("AWS4-HMAC-SHA256 Credential="):
        return None  # unsigned, SigV4a (multi-region access points), or something newer
    if headers.get("x-amz-s3session-token") is not None:
        return None  # S3 Express: a session token from CreateSession, not the credentials
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    if len(scope) != 5 or scope[3] != "s3" or scope[4] != "aws4_request":
        return None
    parts = urlsplit(url)
    suffix = "/" + quote(key, safe="/~")
    if parts.query or not parts.path.endswith(suffix):
        return None
    return Route(f"{parts.scheme}://{parts.netloc}{parts.path[: -len(suffix)]}", scope[2])


def proxied(url: str) -> bool:
    """Whether the environment sends requests to ``url`` through a proxy (then botocore does it)."""
    parts = urlsplit(url)
    return parts.scheme in getproxies() and not proxy_bypass(parts.hostname or "")


def _tag(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]  # S3 puts its namespace on every element; some stores do not


def _child(el: ET.Element, name: str) -> str | None:
    for c in el:
        if _tag(c) == name:
            return c.text
    return None


def parse_iso(text: str) -> datetime:
    """ListObjectsV2's LastModified, ``2025-06-01T10:00:03.000Z`` (fromisoformat takes no Z before 3.11)."""
    t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _error(status: int, body: bytes) -> S3HttpError:
    code, message = "", ""
    try:
        root = ET.fromstring(body)
        code, message = _child(root, "Code") or "", _child(root, "Message") or ""
    except ET.ParseError:
        pass
    code = code or {403: "Forbidden", 404: "NotFound"}.get(status, "Error")
    message = " ".join(message.split())[:200]
    return (NotFound if status == 404 else S3HttpError)(status, code[:64], message)


class S3Http:
    """Signed GETs against one bucket over a bounded keep-alive pool; thread-safe."""

    def __init__(self, route: Route, credentials: Any, *, pool_size: int, verify: bool | str,
                 connect_timeout: float = 5.0, read_timeout: float = 30.0, attempts: int = 3) -> None:
        self.route = route
        self._credentials = credentials  # botocore Credentials: get_frozen_credentials() refreshes when due
        self._settings = {"pool_size": pool_size, "verify": verify, "connect_timeout": connect_timeout,
                          "read_timeout": read_timeout, "attempts": attempts}
        ctx = None
        if route.bucket_url.startswith("https:"):
            ctx = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
            if verify is False:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
        # block=True: at most pool_size connections, reused (HTTP/1.1 keep-alive) rather than a new
        # handshake whenever more threads than connections ask at once
        self._pool = urllib3.PoolManager(num_pools=4, maxsize=pool_size, block=True, ssl_context=ctx,
                                         timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout))
        # what botocore's standard mode retries for a GET: throttling and 5xx, with its backoff
        self._retries = _BackoffRetry(total=attempts - 1, connect=attempts - 1, read=attempts - 1,
                                      status=attempts - 1, status_forcelist=(429, 500, 502, 503, 504),
                                      allowed_methods=frozenset({"GET"}),
                                      raise_on_status=False, respect_retry_after_header=True)

    def reopened(self) -> S3Http:
        """The same route, credentials and settings with a new pool (a forked process's own sockets)."""
        return S3Http(self.route, self._credentials, **self._settings)

    def _send(self, url: str) -> Any:
        request = AWSRequest(method="GET", url=url, data=b"")
        S3SigV4Auth(self._credentials.get_frozen_credentials(), "s3", self.route.region).add_auth(request)
        # the request target exactly as signed: PoolManager.request would normalise the path
        # ("a/../b" -> "b") and the signature would no longer match what S3 receives
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        return self._pool.connection_from_url(url).urlopen(
            "GET", target, headers=dict(request.headers.items()), preload_content=False, retries=self._retries,
            redirect=False, assert_same_host=False)

    def _read(self, resp: Any, limit: int) -> bytes:
        """At most ``limit + 1`` bytes of the body. The connection always goes back to the pool (a
        slot lost would block the pool for good): open when the whole body was read, closed when it
        was not (never reused half-read; the pool opens a new one in its place)."""
        length = resp.headers.get("Content-Length")
        whole = length is not None and length.isdigit() and int(length) <= limit
        try:
            data = resp.read() if whole else resp.read(limit + 1)
            if not whole:
                resp.close()
        except BaseException:
            resp.close()
            raise
        finally:
            resp.release_conn()
        return data

    def _check(self, resp: Any) -> None:
        if resp.status != 200:
            body = self._read(resp, ERROR_BODY_BYTES)
            raise _error(resp.status, body[:ERROR_BODY_BYTES])

    def object_url(self, key: str) -> str:
        return f"{self.route.bucket_url}/{quote(key, safe='/~')}"

    def get(self, key: str, limit: int) -> tuple[bytes, datetime | None]:
        """The object's first ``limit + 1`` bytes and its Last-Modified; :class:`NotFound` if absent."""
        resp = self._send(self.object_url(key))
        self._check(resp)
        modified = resp.headers.get("Last-Modified")
        data = self._read(resp, limit)
        try:
            return data, parsedate_to_datetime(modified) if modified else None
        except (TypeError, ValueError):
            return data, None

    def list(self, prefix: str) -> Iterator[tuple[str, int, datetime]]:
        """(key, size, LastModified) of every object under ``prefix``, 1,000 per request."""
        token: str | None = None
        while True:
            query = f"list-type=2&encoding-type=url&prefix={quote(prefix, safe='-_.~')}"
            if token is not None:
                query += f"&continuation-token={quote(token, safe='-_.~')}"
            base = self.route.bucket_url
            resp = self._send(f"{base}{'' if urlsplit(base).path else '/'}?{query}")
            self._check(resp)
            body = self._read(resp, PAGE_BYTES)
            if len(body) > PAGE_BYTES:
                raise S3HttpError(200, "PageTooLarge", f"a ListObjectsV2 page over {PAGE_BYTES // 1024} KiB")
            root = ET.fromstring(body)
            for el in root:
                if _tag(el) == "Contents":
                    key, size, modified = _child(el, "Key"), _child(el, "Size"), _child(el, "LastModified")
                    if key is not None and modified is not None:
                        yield unquote_plus(key), int(size or 0), parse_iso(modified)  # as botocore decodes
            token = _child(root, "NextContinuationToken")
            if (_child(root, "IsTruncated") or "").strip().lower() != "true" or not token:
                return


__all__ = ["NotFound", "Route", "S3Http", "S3HttpError", "parse_iso", "proxied", "route_from_request"]
