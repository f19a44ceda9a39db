"""The IoT credentials provider's pieces (pure): trust policy, access sets, role alias names and the
role's S3/KMS policy.

The policy is checked two ways: its exact statements, and what it allows once IAM substitutes the
policy variable. ``allowed`` below applies IAM's documented rules for what these statements use:
Resource ARNs match with ``*`` / ``?`` wildcards, ``${credentials-iot:ThingName}`` is replaced by the
thing name the device sent (AWS IoT: "Authorizing direct calls to AWS services"), and StringLike /
StringEquals conditions compare the request's context keys. It is not an IAM simulator: it answers
only for the statement shapes plinth writes, which the first test pins down."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from components.edge_credentials import (
    THING,
    access_sets,
    check_zone_access,
    lake_access_policy,
    role_alias_arn,
    role_alias_name,
    trust_policy,
)
from policies.errors import ConfigError
from stacks.config import EdgeConfig

RAW, MODELS = "arn:aws:s3:::acme-raw-x1", "arn:aws:s3:::acme-models-x2"
KEY = "arn:aws:kms:us-west-2:123456789012:key/1111-2222"
BUCKETS = {"raw": RAW, "models": MODELS}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed(policy: dict[str, Any], action: str, resource: str, thing: str, context: dict[str, str] | None = None) -> bool:
    """Would ``policy`` allow ``action`` on ``resource`` for a device that sent ``thing``?"""
    context = context or {}
    for st in policy["Statement"]:
        if st["Effect"] != "Allow" or action not in _list(st["Action"]):
            continue
        if not any(fnmatch.fnmatchcase(resource, r.replace(THING, thing)) for r in _list(st["Resource"])):
            continue
        ok = True
        for op, tests in st.get("Condition", {}).items():
            for key, values in tests.items():
                got = context.get(key)
                wanted = [v.replace(THING, thing) for v in _list(values)]
                if got is None:
                    ok = False
                elif op == "StringEquals":
                    ok = ok and got in wanted
                elif op == "StringLike":
                    ok = ok and any(fnmatch.fnmatchcase(got, w) for w in wanted)
                else:
                    raise AssertionError(f"condition operator {op} not modelled here")
        if ok:
            return True
    return False


def edge(**kw: Any) -> EdgeConfig:
    return EdgeConfig.model_validate({"devices": [{"name": "cam-1", "generateKeyPair": True}], **kw})


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    return lake_access_policy({"raw": "write", "models": "read"}, ("models", "raw"), BUCKETS, KEY, "us-west-2")


def test_trust_is_the_credentials_provider_only() -> None:
    assert trust_policy()["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "credentials.iot.amazonaws.com"}, "Action": "sts:AssumeRole"}]


def test_statements_are_exactly_prefix_scoped(policy: dict[str, Any]) -> None:
    by_sid = {st["Sid"]: st for st in policy["Statement"]}
    assert sorted(by_sid) == ["KmsOnlyThroughS3", "ListModels", "ReadModels", "WriteRaw"]
    assert by_sid["WriteRaw"]["Action"] == ["s3:PutObject", "s3:AbortMultipartUpload"]
    assert by_sid["WriteRaw"]["Resource"] == f"{RAW}/devices/{THING}/*"
    assert by_sid["ReadModels"]["Resource"] == f"{MODELS}/devices/{THING}/*"
    assert by_sid["ListModels"]["Condition"] == {"StringLike": {"s3:prefix": [f"devices/{THING}/", f"devices/{THING}/*"]}}
    kms = by_sid["KmsOnlyThroughS3"]
    assert kms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"] and kms["Resource"] == KEY
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-west-2.amazonaws.com"}
    for st in policy["Statement"]:  # no wildcard action, no "*" resource, no s3:* or kms:*
        assert all("*" not in a for a in _list(st["Action"]))
        assert all(r != "*" and not r.endswith(":::*") for r in _list(st["Resource"]))


@pytest.mark.parametrize(("action", "resource", "thing", "context", "verdict"), [
    ("s3:PutObject", f"{RAW}/devices/acme-cam-1/2026/img.jpg", "acme-cam-1", None, True),
    # another device's prefix, a longer thing name sharing the prefix, the bucket root: no
    ("s3:PutObject", f"{RAW}/devices/acme-cam-2/img.jpg", "acme-cam-1", None, False),
    ("s3:PutObject", f"{RAW}/devices/acme-cam-10/img.jpg", "acme-cam-1", None, False),
    ("s3:PutObject", f"{RAW}/img.jpg", "acme-cam-1", None, False),
    ("s3:GetObject", f"{RAW}/devices/acme-cam-1/img.jpg", "acme-cam-1", None, False),  # raw is write-only
    ("s3:PutObject", f"{MODELS}/devices/acme-cam-1/model.onnx", "acme-cam-1", None, False),  # models read-only
    ("s3:GetObject", f"{MODELS}/devices/acme-cam-1/model.onnx", "acme-cam-1", None, True),
    ("s3:DeleteObject", f"{RAW}/devices/acme-cam-1/img.jpg", "acme-cam-1", None, False),
    ("s3:ListBucket", MODELS, "acme-cam-1", {"s3:prefix": "devices/acme-cam-1/"}, True),
    ("s3:ListBucket", MODELS, "acme-cam-1", {"s3:prefix": "devices/"}, False),  # can't see the fleet
    ("s3:ListBucket", MODELS, "acme-cam-1", {}, False),
    ("kms:GenerateDataKey", KEY, "acme-cam-1",
     {"kms:ViaService": "s3.us-west-2.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": RAW}, True),
    # the key straight from KMS, through S3 in another region, or for a bucket outside the zones: no
    ("kms:Decrypt", KEY, "acme-cam-1", {"kms:EncryptionContext:aws:s3:arn": RAW}, False),
    ("kms:Decrypt", KEY, "acme-cam-1",
     {"kms:ViaService": "s3.eu-west-1.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": RAW}, False),
    ("kms:Decrypt", KEY, "acme-cam-1",
     {"kms:ViaService": "s3.us-west-2.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::payroll"}, False),
    ("kms:Decrypt", KEY, "acme-cam-1",
     {"kms:ViaService": "s3.us-west-2.amazonaws.com",
      "kms:EncryptionContext:aws:s3:arn": f"{MODELS}/devices/acme-cam-1/model.onnx"}, True),  # no bucket key
])
def test_what_a_device_may_do(policy: dict[str, Any], action: str, resource: str, thing: str,
                              context: dict[str, str] | None, verdict: bool) -> None:
    assert allowed(policy, action, resource, thing, context) is verdict


def test_read_write_zone_and_the_matcher_catching_a_widened_grant() -> None:
    doc = lake_access_policy({"raw": "read-write"}, ("raw",), BUCKETS, KEY, "us-west-2")
    assert allowed(doc, "s3:GetObject", f"{RAW}/devices/t/x", "t") and allowed(doc, "s3:PutObject", f"{RAW}/devices/t/x", "t")
    widened = lake_access_policy({"raw": "write"}, ("raw",), BUCKETS, KEY, "us-west-2")
    widened["Statement"][0]["Resource"] = f"{RAW}/devices/*"  # what a careless edit would do
    assert allowed(widened, "s3:PutObject", f"{RAW}/devices/other/x", "t")  # the matcher sees the difference


def test_access_sets_group_devices_by_their_zones() -> None:
    cfg = edge(zoneAccess={"raw": "write", "models": "read"}, devices=[
        {"name": "a", "generateKeyPair": True}, {"name": "b", "zones": ["raw"], "generateKeyPair": True},
        {"name": "c", "zones": ["models", "raw"], "generateKeyPair": True}, {"name": "d", "zones": [], "generateKeyPair": True}])
    assert access_sets(cfg) == {("models", "raw"): [0, 2], ("raw",): [1], (): [3]}


def test_zone_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^plinth:edge\.devices\[0\]\.zones\[0\]: 'curated' is not in edge\.zoneAccess"):
        access_sets(edge(devices=[{"name": "a", "zones": ["curated"], "generateKeyPair": True}]))
    with pytest.raises(ConfigError, match=r"^plinth:edge\.devices\[0\]\.zones: a zone is listed twice"):
        access_sets(edge(devices=[{"name": "a", "zones": ["raw", "raw"], "generateKeyPair": True}]))
    with pytest.raises(ConfigError, match=r"^plinth:edge\.zoneAccess\.features: not a lakehouse zone"):
        check_zone_access(edge(zoneAccess={"features": "read"}), ["raw", "models"])


def test_role_alias_names_fit_what_aws_accepts() -> None:
    assert role_alias_name("acme-plant3", ("models", "raw")) == "acme-plant3-lake-models-raw"
    long = role_alias_name("g" * 30, tuple(f"zone-{i:02d}" for i in range(20)))
    assert len(long) <= 128 and long.startswith("g" * 30 + "-lake-")
    with pytest.raises(ConfigError, match=r"^plinth:edge\.group: .*letters, digits"):
        role_alias_name("acme:plant3", ("raw",))  # ':' is allowed in thing groups, not in role aliases
    assert role_alias_arn("aws", "us-west-2", "123456789012", "a-lake-raw") == \
        "arn:aws:iot:us-west-2:123456789012:rolealias/a-lake-raw"
