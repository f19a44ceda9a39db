"""Lakehouse: policy builders (pure) and every bucket's guard rails under the real SDK mocks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.lakehouse import (
    Lakehouse,
    LakehouseArgs,
    check_zones,
    glue_name,
    kms_key_policy,
    log_bucket_policy,
    partition_of,
    zone_bucket_policy,
)
from policies.errors import ConfigError
from stacks.config import LakehouseConfig
from tests.components.mocks import ACCOUNT, Registered, Run, run_program

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KEY = "aws:kms/key:Key"
GLUE = "aws:glue/catalogDatabase:CatalogDatabase"
ZONES = ["raw", "curated", "features", "models"]
TAGS = {"team": "data"}


def build(lake: dict[str, Any] | None = None, *, restrict: bool = False, region: str = "eu-central-1") -> Run[Lakehouse]:
    cfg = LakehouseConfig.model_validate(lake or {})
    args = LakehouseArgs(lakehouse=cfg, prefix="acme", region=region, tags=TAGS, restrict_to_region=restrict)
    return run_program(lambda: Lakehouse("lake", args))


@pytest.fixture(scope="module")
def lake() -> Run[Lakehouse]:
    return build()


@pytest.fixture(scope="module")
def pinned() -> Run[Lakehouse]:
    return build({"s3Tables": True, "zones": ["raw", "models"]}, restrict=True)


def zone_buckets(run: Run[Lakehouse]) -> dict[str, Registered]:
    return {r.inputs["tags"]["plinth:zone"]: r for r in run.of_type(BUCKET) if r.inputs["tags"]["plinth:zone"] in ZONES}


def for_bucket(run: Run[Lakehouse], typ: str, bucket: Registered) -> Registered:
    found = [r for r in run.of_type(typ) if r.inputs.get("bucket") == f"{bucket.name}-id"]
    assert len(found) == 1, f"{typ} for {bucket.name}: {[r.name for r in found]}"
    return found[0]


# ---- pure -----------------------------------------------------------------------------------

def test_tls_only_policy_denies_plain_http_on_bucket_and_objects() -> None:
    doc = zone_bucket_policy("arn:aws:s3:::b", pin_region=False)
    [st] = doc["Statement"]
    assert (st["Effect"], st["Principal"], st["Action"]) == ("Deny", "*", "s3:*")
    assert st["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    assert st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_pinned_policy_also_denies_replication() -> None:
    doc = zone_bucket_policy("arn:aws:s3:::b", pin_region=True)
    assert [s["Sid"] for s in doc["Statement"]] == ["DenyInsecureTransport", "DenyReplicationOutOfRegion"]
    assert doc["Statement"][1]["Action"] == "s3:PutReplicationConfiguration"


def test_log_bucket_policy_lets_only_log_delivery_from_our_buckets_write() -> None:
    doc = log_bucket_policy("arn:aws:s3:::logs", ["arn:aws:s3:::b2", "arn:aws:s3:::b1"], "111122223333")
    allow = doc["Statement"][0]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject" and allow["Resource"] == "arn:aws:s3:::logs/*"
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"] == ["arn:aws:s3:::b1", "arn:aws:s3:::b2"]
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == "111122223333"
    assert doc["Statement"][1]["Sid"] == "DenyInsecureTransport"


def test_key_policy_keeps_account_control_and_adds_s3_tables_maintenance_only_when_asked() -> None:
    plain = kms_key_policy("111122223333", "aws-us-gov")
    assert plain["Statement"][0]["Principal"] == {"AWS": "arn:aws-us-gov:iam::111122223333:root"}
    assert len(plain["Statement"]) == 1
    tables = kms_key_policy("111122223333", s3_tables=True)
    assert tables["Statement"][1]["Principal"] == {"Service": "maintenance.s3tables.amazonaws.com"}
    assert tables["Statement"][1]["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]


def test_names_and_partition() -> None:
    assert glue_name("acme-prod", "Raw-Zone") == "acme_prod_raw_zone"
    assert partition_of("arn:aws-cn:iam::1:root") == "aws-cn" and partition_of("bogus") == "aws"
    with pytest.raises(ConfigError, match=r"^plinth:lakehouse\.zones\[1\]: must be lowercase"):
        check_zones(["raw", "Curated"], "acme")
    with pytest.raises(ConfigError, match=r"^plinth:lakehouse\.zones\[0\]: .* too long"):
        check_zones(["x" * 20], "acme-long-prefix-123")
    with pytest.raises(ConfigError, match=r"^plinth:lakehouse\.zones: .*unique"):
        check_zones(["raw", "raw"], "acme")


# ---- component under mocks --------------------------------------------------------------------

def test_one_bucket_per_zone_with_prefix_and_force_destroy_from_config(lake: Run[Lakehouse]) -> None:
    buckets = zone_buckets(lake)
    assert sorted(buckets) == sorted(ZONES)
    for zone, b in buckets.items():
        assert b.inputs["bucketPrefix"] == f"acme-{zone}-"
        assert b.inputs["forceDestroy"] is False
        assert b.inputs["region"] == "eu-central-1"
        assert TAGS.items() <= b.inputs["tags"].items()
        assert "versioning" not in b.inputs and "serverSideEncryptionConfiguration" not in b.inputs  # side resources only
    assert lake.one("plinth:data:Lakehouse").urn and not lake.of_type("aws:s3/bucketV2:BucketV2")


def test_every_zone_bucket_is_versioned_kms_encrypted_private_tiered_logged_and_tls_only(lake: Run[Lakehouse]) -> None:
    key = lake.one(KEY)
    key_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:{key.name}"  # what the mocks compute for the key
    logs = next(r for r in lake.of_type(BUCKET) if r.inputs["tags"]["plinth:zone"] == "access-logs")
    for zone, b in zone_buckets(lake).items():
        assert for_bucket(lake, VERSIONING, b).inputs["versioningConfiguration"]["status"] == "Enabled"
        [rule] = for_bucket(lake, SSE, b).inputs["rules"]
        assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn}
        assert rule["bucketKeyEnabled"] is True
        pab = for_bucket(lake, PAB, b).inputs
        assert all(pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
        [lc] = for_bucket(lake, LIFECYCLE, b).inputs["rules"]
        days = [t["days"] for t in lc["transitions"]]
        assert days == sorted(days) and len(set(days)) == 3
        assert [t["storageClass"] for t in lc["transitions"]] == ["STANDARD_IA", "GLACIER_IR", "DEEP_ARCHIVE"]
        log = for_bucket(lake, LOGGING, b).inputs
        assert log["targetBucket"] == f"{logs.name}-id" and log["targetPrefix"] == f"{zone}/"
        policy = json.loads(for_bucket(lake, POLICY, b).inputs["policy"])
        assert policy == zone_bucket_policy(f"arn:aws:s3:::{b.name}", pin_region=False)


def test_policy_waits_for_public_access_block_and_lifecycle_for_versioning(lake: Run[Lakehouse]) -> None:
    b = zone_buckets(lake)["raw"]
    assert for_bucket(lake, PAB, b).urn in for_bucket(lake, POLICY, b).dependencies
    assert for_bucket(lake, VERSIONING, b).urn in for_bucket(lake, LIFECYCLE, b).dependencies


def test_key_rotates_and_is_single_region(lake: Run[Lakehouse]) -> None:
    key = lake.one(KEY).inputs
    assert key["enableKeyRotation"] is True and key["multiRegion"] is False
    doc = json.loads(key["policy"])
    assert doc["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert lake.one("aws:kms/alias:Alias").inputs["name"] == "alias/acme-lake-lakehouse"


def test_log_bucket_uses_sse_s3_owner_enforced_and_admits_log_delivery_for_the_zone_buckets(lake: Run[Lakehouse]) -> None:
    logs = next(r for r in lake.of_type(BUCKET) if r.inputs["tags"]["plinth:zone"] == "access-logs")
    [rule] = for_bucket(lake, SSE, logs).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    assert for_bucket(lake, VERSIONING, logs).inputs["versioningConfiguration"]["status"] == "Enabled"
    assert all(for_bucket(lake, PAB, logs).inputs[k] is True for k in ("blockPublicAcls", "restrictPublicBuckets"))
    own = for_bucket(lake, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", logs)
    assert own.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    doc = json.loads(for_bucket(lake, POLICY, logs).inputs["policy"])
    sources = doc["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"]
    assert sorted(sources) == sorted(f"arn:aws:s3:::{b.name}" for b in zone_buckets(lake).values())
    assert for_bucket(lake, LIFECYCLE, logs).inputs["rules"][0]["expiration"]["days"] == 365


def test_glue_database_per_zone_with_sql_safe_names_and_outputs(lake: Run[Lakehouse]) -> None:
    dbs = {r.inputs["name"]: r.inputs for r in lake.of_type(GLUE)}
    assert sorted(dbs) == sorted(f"acme_{z}" for z in ZONES)
    assert dbs["acme_raw"]["locationUri"] == "s3://lake-raw/"
    res = lake.result
    assert Run.value(res.bucket_names) == {z: f"lake-{z}" for z in ZONES}
    assert Run.value(res.glue_database_names) == {z: f"acme_{z}" for z in ZONES}
    assert Run.value(res.log_bucket_name) == "lake-access-logs"
    assert Run.value(res.kms_key_arn).startswith("arn:aws:kms:")
    assert res.endpoint == "https://s3.eu-central-1.amazonaws.com"
    assert res.table_bucket_arn is None and not lake.of_type("aws:s3tables/tableBucket:TableBucket")


def test_restricted_lakehouse_pins_region_denies_replication_and_adds_s3_tables(pinned: Run[Lakehouse]) -> None:
    for r in pinned.resources:
        if r.custom:
            assert r.inputs.get("region") == "eu-central-1", f"{r.type} {r.name} not pinned"
    for b in zone_buckets(pinned).values():
        assert b.inputs["tags"]["plinth:data-residency"] == "eu-central-1"
        sids = [s["Sid"] for s in json.loads(for_bucket(pinned, POLICY, b).inputs["policy"])["Statement"]]
        assert "DenyReplicationOutOfRegion" in sids
    tb = pinned.one("aws:s3tables/tableBucket:TableBucket").inputs
    assert tb["encryptionConfiguration"]["sseAlgorithm"] == "aws:kms"
    namespaces = sorted(r.inputs["namespace"] for r in pinned.of_type("aws:s3tables/namespace:Namespace"))
    assert namespaces == ["models", "raw"]
    key_doc = json.loads(pinned.one(KEY).inputs["policy"])
    assert any(s.get("Principal") == {"Service": "maintenance.s3tables.amazonaws.com"} for s in key_doc["Statement"])


def test_bad_lifecycle_gap_fails_before_any_bucket_is_created() -> None:
    with pytest.raises(ConfigError, match=r"glacierIrDays"):
        build({"lifecycle": {"standardIaDays": 60, "glacierIrDays": 61, "deepArchiveDays": 400}})
