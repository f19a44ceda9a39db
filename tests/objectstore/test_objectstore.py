"""Object-store posture and throughput against a real S3 API (moto_server on 127.0.0.1), and the
judges over what it measured."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

import boto3.session
import pytest
from botocore.exceptions import ClientError

from policies.thresholds import Profile, Threshold
from tests.support.sshd import free_port
from validators.checks.base import judge_fleet
from validators.objectstore import PROBE_PREFIX, _reason, controller_store_facts

PROFILE = Profile(name="t", description="t", thresholds={
    "storage.bucket_posture": Threshold(expect=True),
    "storage.object_store_throughput": Threshold(min=1, unit="MB/s"),
})


@dataclass
class Store:
    endpoint: str | None
    bucket: str
    region: str | None = "us-east-1"


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # boto3's normal chain, pointed at throwaway values: nothing from the real environment is used
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _s3(url: str):
    return boto3.session.Session().client("s3", endpoint_url=url, region_name="us-east-1")


def test_unversioned_bucket_fails_posture_and_throughput_is_measured(moto: str) -> None:
    _s3(moto).create_bucket(Bucket="raw-unversioned")
    facts = controller_store_facts(Store(moto, "raw-unversioned"), object_mb=2)
    assert facts["error"] is None and facts["posture_error"] is None
    assert facts["versioning"] == "Disabled"
    assert facts["public_access_block"] == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), False)
    assert facts["put_mb_s"] > 0 and facts["get_mb_s"] > 0 and facts["object_bytes"] == 2 * 1024 * 1024
    # the probe object is gone afterwards
    assert _s3(moto).list_objects_v2(Bucket="raw-unversioned", Prefix=PROBE_PREFIX).get("KeyCount") == 0

    results = {r.id: r for r in judge_fleet({}, {"object_store": facts}, PROFILE)}
    posture = results["storage.bucket_posture"]
    assert posture.status == "fail"
    assert "versioning is Disabled" in posture.message and "public access block off" in posture.message
    assert "BucketVersioning" in (posture.remediation or "")
    assert results["storage.object_store_throughput"].status in ("pass", "warn")
    assert results["storage.object_store_throughput"].measured > 0  # type: ignore[operator]


def test_hardened_bucket_passes_posture_and_big_object_goes_multipart(moto: str) -> None:
    s3 = _s3(moto)
    s3.create_bucket(Bucket="raw-hardened")
    s3.put_bucket_versioning(Bucket="raw-hardened", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket="raw-hardened", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
    s3.put_public_access_block(Bucket="raw-hardened", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    facts = controller_store_facts(Store(moto, "raw-hardened"), object_mb=20)  # > 16 MiB threshold: multipart
    assert facts["versioning"] == "Enabled" and facts["encryption"] == "aws:kms"
    assert facts["throughput_error"] is None and facts["put_mb_s"] > 0
    # versioned bucket: the delete leaves a marker, but no current object under the prefix
    assert _s3(moto).list_objects_v2(Bucket="raw-hardened", Prefix=PROBE_PREFIX).get("KeyCount") == 0
    results = {r.id: r for r in judge_fleet({}, {"object_store": facts}, PROFILE)}
    assert results["storage.bucket_posture"].status == "pass"


def test_missing_bucket_is_an_error_with_reason(moto: str) -> None:
    facts = controller_store_facts(Store(moto, "no-such-bucket"))
    assert "bucket does not exist" in facts["error"]
    res = judge_fleet({}, {"object_store": facts}, PROFILE)
    assert {r.status for r in res} == {"error"}


def test_endpoint_down_is_an_error_not_a_hang() -> None:
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    facts = controller_store_facts(Store(f"http://127.0.0.1:{port}", "b"), connect_timeout_s=1)
    assert time.monotonic() - t0 < 10
    assert "unreachable" in facts["error"]
    assert all(r.status == "error" and "unreachable" in r.message for r in judge_fleet({}, {"object_store": facts}, PROFILE))


def test_slow_endpoint_read_timeout_is_an_error() -> None:
    with socket.socket() as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        facts = controller_store_facts(Store(f"http://127.0.0.1:{port}", "b"), connect_timeout_s=1, read_timeout_s=1)
    assert time.monotonic() - t0 < 10
    assert "too slow" in facts["error"]


def test_no_credentials_reason_never_shows_secrets(monkeypatch: pytest.MonkeyPatch, moto: str) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    facts = controller_store_facts(Store(moto, "raw-unversioned"))
    assert "no AWS credentials" in facts["error"]
    assert "testing-secret" not in repr(facts)


def test_access_denied_reason_and_absent_store_skip() -> None:
    exc = ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "PutObject")
    assert _reason(exc, "PUT") == "PUT: access denied (403) - the credentials lack this permission"
    res = judge_fleet({}, {}, PROFILE)
    assert {r.status for r in res} == {"skip"} and all("no object_store" in r.message for r in res)


def test_unreadable_posture_is_error_but_a_visible_gap_still_fails() -> None:
    base = {"bucket": "b", "versioning": "Enabled", "encryption": None, "error": None,
            "public_access_block": dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True),
            "posture_error": "GetBucketEncryption: access denied (403)", "posture_unreadable": ["encryption"]}
    res = judge_fleet({}, {"object_store": base}, Profile(name="t", description="t", thresholds={"storage.bucket_posture": Threshold(expect=True)}))
    assert res[0].status == "error" and "403" in res[0].message
    res = judge_fleet({}, {"object_store": {**base, "versioning": "Suspended"}},
                      Profile(name="t", description="t", thresholds={"storage.bucket_posture": Threshold(expect=True)}))
    assert res[0].status == "fail" and "Suspended" in res[0].message and "could not read" in res[0].message
