"""Object-store facts measured from the controller (where plinth runs), with boto3.

``controller_store_facts(store, object_mb=8)`` returns the controller facts' ``object_store``::

    {"endpoint", "bucket", "region",
     "versioning": "Enabled"|"Suspended"|"Disabled"|None,     # Disabled: never configured
     "encryption": "aws:kms"|"AES256"|...|None,               # None: no default encryption rule
     "public_access_block": {"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                             "RestrictPublicBuckets": bool}|None,   # none configured: all False
     "put_mb_s", "get_mb_s": float|None, "object_bytes": int,
     "error": str|None,              # the store as a whole: endpoint down, no bucket, no credentials
     "posture_error": str|None,      # posture calls failed (e.g. 403 on GetBucketEncryption)
     "posture_unreadable": [str],    # which posture fields those failures left unknown
     "throughput_error": str|None,   # PUT/GET failed (e.g. 403 on PutObject)
     "cleanup_error": str|None}      # the probe object could not be deleted (named, so it can be)

Credentials come from boto3's normal chain (environment, profile, instance role) and are never
read, printed or stored here. Timeouts are small and retries off, so an endpoint that is down or
slow costs seconds and becomes a reason, not a hang. The throughput object is random bytes under
``plinth-probe/`` and is deleted afterwards; big objects go multipart through TransferConfig, as
real training data loaders do.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from typing import Any, Protocol

import boto3.session
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

PROBE_PREFIX = "plinth-probe/"
MB = 1_000_000  # MB/s in reports are decimal megabytes, like disk throughput and the seed's 1000 MB/s
PAB_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


class StoreLike(Protocol):
    """What the inventory's ``object_store`` offers (validators.inventory.ObjectStoreConfig)."""

    @property
    def endpoint(self) -> str | None: ...

    @property
    def bucket(self) -> str: ...


def _reason(exc: BaseException, action: str) -> str:
    """One line for the report: what was being done and why it failed; never credentials."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "?")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("AccessDenied", "403", "Forbidden") or status == 403:
            return f"{action}: access denied (403) - the credentials lack this permission"
        if code in ("NoSuchBucket", "404") and "bucket" in action.lower():
            return f"{action}: bucket does not exist"
        return f"{action}: {code}{f' (HTTP {status})' if status else ''}: {err.get('Message', '')}".rstrip(": ")
    if isinstance(exc, NoCredentialsError):
        return f"{action}: no AWS credentials found (boto3 chain: environment, profile, instance role)"
    if isinstance(exc, ConnectTimeoutError):
        return f"{action}: connect timed out ({exc.__class__.__name__})"
    if isinstance(exc, ReadTimeoutError):
        return f"{action}: endpoint too slow - read timed out"
    if isinstance(exc, EndpointConnectionError):
        return f"{action}: endpoint unreachable: {exc}"
    return f"{action}: {exc.__class__.__name__}: {exc}"


def make_client(endpoint: str | None, region: str | None, connect_timeout_s: float, read_timeout_s: float) -> Any:
    session = boto3.session.Session()
    cfg = Config(
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        # one attempt, no retry: a retry storm would hide "endpoint down" for minutes ("max_attempts"
        # counts retries, so 1 there meant two attempts and twice the read timeout on a stalled store)
        retries={"total_max_attempts": 1, "mode": "standard"},
        region_name=region or session.region_name or "us-east-1",
    )
    return session.client("s3", endpoint_url=endpoint or None, config=cfg)


def bucket_posture(s3: Any, bucket: str) -> dict[str, Any]:
    """versioning / encryption / public access block; raises for a failure of the whole store."""
    out: dict[str, Any] = {"versioning": None, "encryption": None, "public_access_block": None,
                           "posture_error": None, "posture_unreadable": []}
    errors: list[str] = []
    out["versioning"] = s3.get_bucket_versioning(Bucket=bucket).get("Status") or "Disabled"
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        algos = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules]
        out["encryption"] = next((a for a in algos if a), None)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ServerSideEncryptionConfigurationNotFoundError":
            errors.append(_reason(exc, "GetBucketEncryption"))
            out["posture_unreadable"].append("encryption")
    try:
        pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        out["public_access_block"] = {k: bool(pab.get(k, False)) for k in PAB_KEYS}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchPublicAccessBlockConfiguration":
            out["public_access_block"] = {k: False for k in PAB_KEYS}
        else:
            errors.append(_reason(exc, "GetPublicAccessBlock"))
            out["posture_unreadable"].append("public_access_block")
    out["posture_error"] = "; ".join(errors) or None
    return out


def throughput(s3: Any, bucket: str, object_bytes: int) -> dict[str, Any]:
    """PUT then GET one random object under plinth-probe/, timed with perf_counter; deleted after."""
    out: dict[str, Any] = {"put_mb_s": None, "get_mb_s": None, "throughput_error": None, "cleanup_error": None}
    data = os.urandom(object_bytes)  # random: no compression or dedup along the path flatters the numbers
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}.bin"
    transfer = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024, max_concurrency=8)
    written = False
    try:
        t0 = time.perf_counter()
        s3.upload_fileobj(io.BytesIO(data), bucket, key, Config=transfer)
        put_s = time.perf_counter() - t0
        written = True
        out["put_mb_s"] = object_bytes / MB / put_s
        sink = io.BytesIO()
        t0 = time.perf_counter()
        s3.download_fileobj(bucket, key, sink, Config=transfer)
        get_s = time.perf_counter() - t0
        if sink.getbuffer().nbytes != object_bytes or sink.getvalue() != data:
            out["throughput_error"] = f"GET returned {sink.getbuffer().nbytes} bytes that differ from the {object_bytes} written"
        else:
            out["get_mb_s"] = object_bytes / MB / get_s
    except (ClientError, BotoCoreError) as exc:
        out["throughput_error"] = _reason(exc, "PUT" if not written else "GET")
    except Exception as exc:  # noqa: BLE001 - s3transfer wraps some failures in its own types
        out["throughput_error"] = _reason(exc, "PUT" if not written else "GET")
    finally:
        try:
            s3.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            if written:
                out["cleanup_error"] = f"could not delete s3://{bucket}/{key}: {_reason(exc, 'DeleteObject')}"
    return out


def controller_store_facts(
    store: StoreLike,
    object_mb: int = 8,
    *,
    connect_timeout_s: float = 3.0,
    read_timeout_s: float = 15.0,
) -> dict[str, Any]:
    """Posture and throughput of the inventory's bucket, seen from here. Never raises for the
    store's own failures: they come back as ``error`` / ``posture_error`` / ``throughput_error``."""
    endpoint = getattr(store, "endpoint", None)
    bucket = store.bucket
    region = getattr(store, "region", None)
    object_bytes = max(1, int(object_mb * 1024 * 1024))
    facts: dict[str, Any] = {
        "endpoint": endpoint, "bucket": bucket, "region": region,
        "versioning": None, "encryption": None, "public_access_block": None,
        "put_mb_s": None, "get_mb_s": None, "object_bytes": object_bytes,
        "error": None, "posture_error": None, "posture_unreadable": [], "throughput_error": None, "cleanup_error": None,
    }
    try:
        s3 = make_client(endpoint, region, connect_timeout_s, read_timeout_s)
        facts.update(bucket_posture(s3, bucket))
    except (ClientError, BotoCoreError) as exc:
        # the first call failed as a whole (down, slow, no such bucket, no credentials): no point going on
        facts["error"] = _reason(exc, f"bucket {bucket} at {endpoint or 'AWS S3'}")
        return facts
    except Exception as exc:  # noqa: BLE001 - any failure of the store is a reason in the report, never a crash
        facts["error"] = _reason(exc, f"bucket {bucket} at {endpoint or 'AWS S3'}")
        return facts
    facts.update(throughput(s3, bucket, object_bytes))
    return facts
