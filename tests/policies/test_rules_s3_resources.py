"""S3 safety on each resource, judged before the resource is created (engine-shaped inputs)."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UnknownValueError

from tests.policies.engine_args import UNKNOWN_STR, run_resource

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ACL = "aws:s3/bucketAcl:BucketAcl"
ALL_ON = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}
TLS_DENY = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": ["arn:aws:s3:::raw", "arn:aws:s3:::raw/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
LOG_DELIVERY = {"Sid": "S3ServerAccessLogsPolicy", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject", "Resource": "arn:aws:s3:::logs/*",
                "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.mark.parametrize(("name", "type_", "props"), [
    ("s3-versioning-enabled", VERSIONING, {"bucket": UNKNOWN_STR, "versioningConfiguration": {"status": "Enabled"}}),
    ("s3-versioning-enabled", BUCKET, {"bucketPrefix": "raw-"}),  # no inline setting: the stack rule looks for a side resource
    ("s3-public-access-block-complete", PAB, {"bucket": UNKNOWN_STR, **ALL_ON}),
    ("s3-acl-not-public", ACL, {"bucket": UNKNOWN_STR, "acl": "private"}),
    ("s3-acl-not-public", BUCKET, {"bucketPrefix": "raw-"}),
    ("s3-policy-not-public", POLICY, {"bucket": UNKNOWN_STR, "policy": doc(TLS_DENY, LOG_DELIVERY)}),
    ("s3-policy-tls-only", POLICY, {"bucket": UNKNOWN_STR, "policy": doc(TLS_DENY, LOG_DELIVERY)}),
])
def test_good_settings_pass(name: str, type_: str, props: dict) -> None:
    assert run_resource(name, type_, props) == []


@pytest.mark.parametrize(("name", "type_", "props", "words"), [
    ("s3-versioning-enabled", VERSIONING, {"bucket": "b", "versioningConfiguration": {"status": "Suspended"}}, "Suspended"),
    ("s3-versioning-enabled", BUCKET, {"versioning": {"enabled": False}}, "inline versioning is disabled"),
    ("s3-public-access-block-complete", PAB, {**ALL_ON, "restrictPublicBuckets": False}, "restrictPublicBuckets off"),
    ("s3-public-access-block-complete", PAB, {"blockPublicAcls": True}, "blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets"),
    ("s3-acl-not-public", BUCKET, {"acl": "public-read"}, "canned ACL public-read"),
    ("s3-acl-not-public", ACL, {"accessControlPolicy": {"grants": [
        {"grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"}, "permission": "READ"}],
        "owner": {"id": "o"}}}, "groups/global/AllUsers"),
    ("s3-policy-not-public", POLICY, {"policy": doc(TLS_DENY, {"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": "*"},
                                                               "Action": "s3:GetObject", "Resource": "arn:aws:s3:::raw/*"})},
     "statements Open"),
    ("s3-policy-not-public", BUCKET, {"policy": doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"})},
     "any principal"),
    ("s3-policy-tls-only", POLICY, {"policy": doc(LOG_DELIVERY)}, "aws:SecureTransport"),
    # a Deny that doesn't cover every action is not TLS-only
    ("s3-policy-tls-only", POLICY, {"policy": doc({**TLS_DENY, "Action": "s3:GetObject"})}, "plain HTTP"),
])
def test_bad_settings_are_stopped_on_the_resource(name: str, type_: str, props: dict, words: str) -> None:
    messages = run_resource(name, type_, props, resource_name="raw-x")
    assert len(messages) == 1 and words in messages[0] and "raw-x" in messages[0], messages


@pytest.mark.parametrize(("name", "type_", "props"), [
    ("s3-policy-tls-only", POLICY, {"bucket": UNKNOWN_STR, "policy": UNKNOWN_STR}),
    ("s3-policy-not-public", POLICY, {"bucket": UNKNOWN_STR, "policy": UNKNOWN_STR}),
    ("s3-versioning-enabled", VERSIONING, {"versioningConfiguration": {"status": UNKNOWN_STR}}),
    ("s3-public-access-block-complete", PAB, {**ALL_ON, "blockPublicAcls": UNKNOWN_STR}),
])
def test_a_value_unknown_before_creation_cannot_be_evaluated_never_passes(name: str, type_: str, props: dict) -> None:
    """The engine turns this error into "can't be evaluated during preview"; at `pulumi up` time the
    value is known before the resource is created and the rule judges it then."""
    with pytest.raises(UnknownValueError):
        run_resource(name, type_, props)


def test_other_resource_types_are_not_judged() -> None:
    assert run_resource("s3-policy-tls-only", "aws:iam/policy:Policy", {"policy": doc(LOG_DELIVERY)}) == []
