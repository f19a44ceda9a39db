"""S3 stack policies: a bucket joined with its v7 side resources, including while ids are unknown.
What a side resource says is judged on that resource (test_rules_s3_resources.py); these judge what
only shows across resources: a missing side resource, KMS versus a log target's AES256, lifecycle."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UnknownValueError

from tests.policies.engine_args import UNKNOWN_STR, StackBuilder

S3_POLICIES = ("s3-bucket-versioning", "s3-bucket-kms-encryption", "s3-bucket-public-access-blocked",
               "s3-bucket-tls-only", "s3-bucket-lifecycle-tiers")
BUCKET = "aws:s3/bucket:Bucket"


def tls_policy(arn: str = "arn:aws:s3:::raw") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


SIDES = {
    "versioning": ("aws:s3/bucketVersioning:BucketVersioning", {"versioningConfiguration": {"status": "Enabled"}}),
    "encryption": ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                   {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "arn:k"},
                               "bucketKeyEnabled": True}]}),
    "pab": ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}),
    "policy": ("aws:s3/bucketPolicy:BucketPolicy", {"policy": tls_policy()}),
    "lifecycle": ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                  {"rules": [{"id": "tiers", "status": "Enabled", "filter": {"prefix": ""},
                              "transitions": [{"days": 30, "storageClass": "STANDARD_IA"},
                                              {"days": 90, "storageClass": "GLACIER_IR"}]}]}),
}


def bucket_stack(skip: str | None = None, override: dict | None = None, preview_unknown: bool = True) -> StackBuilder:
    """A bucket with every side resource. In preview the side resources' ``bucket`` input is unknown
    (the bucket's id output), so only the property dependency joins them."""
    st = StackBuilder()
    b = st.add(BUCKET, "raw", {"bucketPrefix": "raw-", "tags": {"owner": "x"}})
    for key, (type_, props) in SIDES.items():
        if key == skip:
            continue
        props = {**props, **((override or {}).get(key, {}))}
        st.add(type_, f"raw-{key}", {**props, "bucket": UNKNOWN_STR if preview_unknown else "raw-123"}, deps={"bucket": [b]})
    return st


@pytest.mark.parametrize("name", S3_POLICIES)
def test_complete_bucket_passes_every_s3_rule_with_unknown_ids(name: str) -> None:
    assert bucket_stack().run(name) == []


@pytest.mark.parametrize(("missing", "name", "words"), [
    ("versioning", "s3-bucket-versioning", "no BucketVersioning"),
    ("encryption", "s3-bucket-kms-encryption", "default encryption is none"),
    ("pab", "s3-bucket-public-access-blocked", "no BucketPublicAccessBlock"),
    ("policy", "s3-bucket-tls-only", "no BucketPolicy"),
    ("lifecycle", "s3-bucket-lifecycle-tiers", "no enabled lifecycle rule"),
])
def test_bucket_missing_a_side_resource_fails_that_rule_only(missing: str, name: str, words: str) -> None:
    st = bucket_stack(skip=missing)
    messages = st.run(name)
    assert len(messages) == 1 and "bucket raw" in messages[0] and words in messages[0]
    others = [n for n in S3_POLICIES if n != name]
    assert all(st.run(n) == [] for n in others)


def test_side_resource_of_another_bucket_does_not_count() -> None:
    st = StackBuilder()
    a = st.add(BUCKET, "a", {})
    st.add(BUCKET, "b", {})
    st.add(SIDES["versioning"][0], "a-v", {**SIDES["versioning"][1], "bucket": UNKNOWN_STR}, deps={"bucket": [a]})
    messages = st.run("s3-bucket-versioning")
    assert messages == [m for m in messages if "bucket b" in m] and len(messages) == 1


def test_join_by_known_bucket_name_without_dependencies() -> None:
    """An existing bucket's name passed literally: no property dependency, the value joins."""
    st = StackBuilder()
    st.add(BUCKET, "logs", {"bucket": "acme-logs"})
    st.add(SIDES["versioning"][0], "v", {**SIDES["versioning"][1], "bucket": "acme-logs"})
    assert st.run("s3-bucket-versioning") == []


@pytest.mark.parametrize(("key", "override", "name", "words"), [
    ("encryption", {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
     "s3-bucket-kms-encryption", "AES256"),
    ("lifecycle", {"rules": [{"id": "x", "status": "Disabled", "transitions": [{"days": 30, "storageClass": "GLACIER"}]}]},
     "s3-bucket-lifecycle-tiers", "colder tiers"),
])
def test_bad_cross_resource_settings_fail(key: str, override: dict, name: str, words: str) -> None:
    messages = bucket_stack(override={key: override}).run(name)
    assert len(messages) == 1 and words in messages[0], messages


@pytest.mark.parametrize(("key", "override", "name"), [
    ("versioning", {"versioningConfiguration": {"status": "Suspended"}}, "s3-bucket-versioning"),
    ("pab", {"restrictPublicBuckets": False}, "s3-bucket-public-access-blocked"),
    ("policy", {"policy": json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                                                     "Resource": "*"}]})}, "s3-bucket-tls-only"),
])
def test_a_bad_side_resource_is_left_to_its_resource_rule_not_reported_twice(key: str, override: dict, name: str) -> None:
    """The stack rule sees the side resource exists; the resource rule (which runs before creation)
    reports its bad setting: one violation per problem."""
    assert bucket_stack(override={key: override}).run(name) == []


def test_inline_settings_on_the_bucket_count_as_configured() -> None:
    st = StackBuilder()
    st.add(BUCKET, "legacy", {"versioning": {"enabled": True}, "policy": tls_policy("arn:aws:s3:::legacy")})
    assert st.run("s3-bucket-versioning") == [] and st.run("s3-bucket-tls-only") == []


def test_access_log_target_may_use_sse_s3_and_expiration() -> None:
    st = bucket_stack(override={"encryption": {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
                                "lifecycle": {"rules": [{"id": "expire", "status": "Enabled", "expiration": {"days": 90}}]}})
    target = st.resources[0].urn
    src = st.add(BUCKET, "src", {})
    st.add("aws:s3/bucketLogging:BucketLogging", "src-logging", {"bucket": UNKNOWN_STR, "targetBucket": UNKNOWN_STR},
           deps={"bucket": [src], "targetBucket": [target]})
    assert [m for m in st.run("s3-bucket-kms-encryption") if "bucket raw" in m] == []
    assert [m for m in st.run("s3-bucket-lifecycle-tiers") if "bucket raw" in m] == []


def test_unknown_encryption_is_cant_check_not_a_violation() -> None:
    st = bucket_stack(override={"encryption": {"rules": UNKNOWN_STR}})
    with pytest.raises(UnknownValueError):
        st.run("s3-bucket-kms-encryption")


def test_an_unknown_bucket_policy_still_counts_as_a_bucket_policy() -> None:
    """In a first preview the document is built from the bucket's ARN: unknown. That the policy exists
    is known, and that is all the stack rule needs (its content is judged before it is created)."""
    assert bucket_stack(override={"policy": {"policy": UNKNOWN_STR}}).run("s3-bucket-tls-only") == []
