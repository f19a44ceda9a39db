"""lakehouse-workload-identity: every zone bucket readable by a Pod Identity or IRSA role (S3 + KMS)."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError

from tests.policies.engine_args import UNKNOWN_STR, StackBuilder

RULE = "lakehouse-workload-identity"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/lake"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POD_IDENTITY_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]})


def reader_policy(zones: list[str], key: str = KEY_ARN, actions: list[str] | None = None) -> str:
    """What components/workload_identity.py writes for a reader (the shape, not the module)."""
    arns = [f"arn:aws:s3:::acme-{z}" for z in zones]
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "List", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": arns},
        {"Sid": "Read", "Effect": "Allow", "Action": actions or ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": [f"{a}/*" for a in arns]},
        {"Sid": "Decrypt", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key,
         "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}]})


def lakehouse(zones: tuple[str, ...] = ("raw", "models"), known: bool = True) -> StackBuilder:
    """Zone buckets encrypted with the lakehouse key, an access-log bucket, an EKS cluster."""
    st = StackBuilder()
    key = st.add("aws:kms/key:Key", "lake-key", {"arn": KEY_ARN if known else UNKNOWN_STR})
    for zone in (*zones, "access-logs"):
        b = st.add("aws:s3/bucket:Bucket", f"lake-{zone}", {
            "bucketPrefix": f"acme-{zone}-", "tags": {"plinth:zone": zone},
            **({"arn": f"arn:aws:s3:::acme-{zone}", "bucket": f"acme-{zone}"} if known else {})})
        st.add(SSE, f"lake-{zone}", {"bucket": UNKNOWN_STR, "rules": [{"applyServerSideEncryptionByDefault": {
            "sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN if known else UNKNOWN_STR}}]},
            deps={"bucket": [b], "rules": [key]})
    st.add("aws:eks/cluster:Cluster", "eks", {"roleArn": UNKNOWN_STR})
    return st


def pod_identity(st: StackBuilder, policy: str, who: str = "trainer") -> None:
    role = st.add(ROLE, f"{who}-role", {"assumeRolePolicy": POD_IDENTITY_TRUST})
    st.add(ROLE_POLICY, f"{who}-policy", {"role": UNKNOWN_STR, "policy": policy}, deps={"role": [role]})
    st.add("aws:eks/podIdentityAssociation:PodIdentityAssociation", who, {
        "clusterName": UNKNOWN_STR, "namespace": "research", "serviceAccount": who, "roleArn": UNKNOWN_STR},
        deps={"roleArn": [role]})


def test_a_pod_identity_role_that_reads_every_zone_passes() -> None:
    st = lakehouse()
    pod_identity(st, reader_policy(["raw", "models"]))
    assert st.run(RULE) == []


def test_no_workload_identity_at_all_is_a_violation_even_in_a_first_preview() -> None:
    [message] = lakehouse(known=False).run(RULE)
    assert "readable by no workload identity" in message and "lake-raw" in message and "lake-access-logs" not in message


@pytest.mark.parametrize(("policy", "unread"), [
    (reader_policy(["raw"]), {"lake-models"}),  # a zone nobody may read
    (reader_policy(["raw", "models"], key="arn:aws:kms:us-east-1:123456789012:key/other"), {"lake-raw", "lake-models"}),
    (reader_policy(["raw", "models"], actions=["s3:PutObject"]), {"lake-raw", "lake-models"}),  # write-only
])
def test_zones_the_identities_cannot_read_are_named(policy: str, unread: set[str]) -> None:
    st = lakehouse()
    pod_identity(st, policy)
    messages = st.run(RULE)
    assert {m.split(":")[0].removeprefix("lakehouse bucket ") for m in messages} == unread


def test_an_explicit_deny_wins_and_wildcards_grant() -> None:
    st = lakehouse()
    pod_identity(st, json.dumps({"Statement": [
        {"Effect": "Allow", "Action": ["s3:*", "kms:Decrypt"], "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-models/*"}]}))
    assert [m.split(":")[0] for m in st.run(RULE)] == ["lakehouse bucket lake-models"]


def test_an_irsa_role_counts_as_a_workload_identity() -> None:
    st = lakehouse()
    oidc = st.add("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "oidc", {"url": UNKNOWN_STR})
    role = st.add(ROLE, "irsa", {"assumeRolePolicy": UNKNOWN_STR}, deps={"assumeRolePolicy": [oidc]})
    st.add(ROLE_POLICY, "irsa", {"role": UNKNOWN_STR, "policy": reader_policy(["raw", "models"])}, deps={"role": [role]})
    assert st.run(RULE) == []


def test_documents_built_from_arns_that_do_not_exist_yet_cannot_be_evaluated() -> None:
    st = lakehouse(known=False)
    pod_identity(st, UNKNOWN_STR)
    with pytest.raises(UnknownValueError):
        st.run(RULE)


def test_without_an_eks_cluster_the_rule_does_not_apply() -> None:
    st = StackBuilder()
    st.add("aws:s3/bucket:Bucket", "lake-raw", {"tags": {"plinth:zone": "raw"}})
    with pytest.raises(_NotApplicableError):  # reported by the analyzer as "not applicable", not as a pass
        st.run(RULE)
