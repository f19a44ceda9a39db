"""The lakehouse is readable by a workload identity, not by the node role.

On EKS a pod gets AWS credentials from EKS Pod Identity (an ``aws:eks/podIdentityAssociation``
binding a service account to a role trusted by ``pods.eks.amazonaws.com``) or from IRSA (a role
trusting the cluster's OIDC provider with ``sts:AssumeRoleWithWebIdentity``). With the nodes' IMDS
hop limit at 1 (launch-template-imds-hop-limit) those are the only ways a training job reads its
data. EKS user guide, "Learn how EKS Pod Identity grants pods access to AWS services" and "IAM roles
for service accounts".

For every lakehouse zone bucket (``aws:s3/bucket:Bucket`` tagged ``plinth:zone``, the access-log
bucket aside) some workload role must be allowed ``s3:ListBucket`` on the bucket, ``s3:GetObject`` on
its objects and ``kms:Decrypt`` on the KMS key its default encryption names. A role's permissions are
its inline policies, its ``aws:iam/rolePolicy`` resources and the ``aws:iam/policy`` documents attached
to it (``aws:iam/rolePolicyAttachment``); AWS-managed policies attached by ARN are not read.

In a first preview the policy documents are built from bucket and key ARNs that don't exist yet: the
rule then says it cannot be evaluated, unless there is no workload identity at all, which it can tell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from policies.rules._base import stack_policy
from policies.rules._cluster import POD_IDENTITY_ASSOCIATION, clusters
from policies.rules._graph import of_type, referenced, referrers
from policies.rules._iam import allows
from policies.rules._props import UNKNOWN, as_list, get, parse_json_document, plain, require_known, statements
from policies.rules.s3 import ENCRYPTION
from policies.rules.s3_resources import BUCKET

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED_POLICY = "aws:iam/policy:Policy"
OIDC_PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
KMS_KEY = "aws:kms/key:Key"
ZONE_TAG = "plinth:zone"
LOG_ZONE = "access-logs"


def zone_buckets(resources: Sequence[PolicyResource]) -> list[PolicyResource]:
    out = []
    for b in of_type(resources, BUCKET):
        zone = get(plain(b.props), "tags", ZONE_TAG)
        if isinstance(zone, str) and zone != LOG_ZONE:
            out.append(b)
    return out


def _document(value: Any, *path: str) -> dict[str, Any] | None:
    return parse_json_document(value, *path) if value is not None else None


def is_irsa_role(role: PolicyResource) -> bool:
    """A role a service account assumes with its projected token (IRSA)."""
    if any(d.resource_type == OIDC_PROVIDER for d in role.property_dependencies.get("assumeRolePolicy", [])):
        return True
    value = get(plain(role.props), "assumeRolePolicy")
    if value is UNKNOWN or value is None:
        return False
    doc = parse_json_document(value, role.name, "assumeRolePolicy") or {}
    return any("sts:AssumeRoleWithWebIdentity" in as_list(st.get("Action")) and "Federated" in (st.get("Principal") or {})
               for st in statements(doc))


def workload_roles(resources: Sequence[PolicyResource]) -> dict[str, PolicyResource]:
    """How a workload gets each role -> the role: Pod Identity associations, IRSA trust."""
    roles = of_type(resources, ROLE)
    found: dict[str, PolicyResource] = {}
    for assoc in of_type(resources, POD_IDENTITY_ASSOCIATION):
        role = referenced(assoc, "roleArn", roles)
        if role is not None:
            found[f"Pod Identity association {assoc.name} (role {role.name})"] = role
    for role in roles:
        if is_irsa_role(role):
            found[f"IRSA role {role.name}"] = role
    return found


def role_documents(role: PolicyResource, resources: Sequence[PolicyResource]) -> list[Any]:
    """The role's identity policy documents; UNKNOWN for one not known before creation."""
    docs: list[Any] = []
    for inline in as_list(get(plain(role.props), "inlinePolicies", default=[])):
        value = get(inline, "policy")
        docs.append(UNKNOWN if value is UNKNOWN else _document(value, role.name, "inlinePolicies"))
    for rp in referrers(role, "role", of_type(resources, ROLE_POLICY)):
        value = get(plain(rp.props), "policy")
        docs.append(UNKNOWN if value is UNKNOWN else _document(value, rp.name, "policy"))
    managed = of_type(resources, MANAGED_POLICY)
    for att in referrers(role, "role", of_type(resources, ROLE_POLICY_ATTACHMENT)):
        policy = referenced(att, "policyArn", managed)
        if policy is not None:
            value = get(plain(policy.props), "policy")
            docs.append(UNKNOWN if value is UNKNOWN else _document(value, policy.name, "policy"))
    return [d for d in docs if d is not None]


def bucket_key_arn(bucket: PolicyResource, resources: Sequence[PolicyResource]) -> Any:
    """The KMS key ARN the bucket's default encryption names (UNKNOWN before the key exists; None: none)."""
    for sse in referrers(bucket, "bucket", of_type(resources, *ENCRYPTION)):
        for rule in as_list(get(plain(sse.props), "rules", default=[])):
            key = get(rule, "applyServerSideEncryptionByDefault", "kmsMasterKeyId")
            if key is not None:
                return key
    return None


def reads(docs: list[dict[str, Any]], bucket_arn: str, key_arn: str | None) -> bool:
    return (allows(docs, "s3:ListBucket", bucket_arn) and allows(docs, "s3:GetObject", f"{bucket_arn}/*")
            and (key_arn is None or allows(docs, "kms:Decrypt", key_arn)))


def _check_lakehouse_identity(args: StackValidationArgs, report: ReportViolation) -> None:
    res = list(args.resources)
    zones = zone_buckets(res)
    if not zones or not clusters(res):
        args.not_applicable("no lakehouse zone buckets and EKS cluster in this stack")
        return
    roles = workload_roles(res)
    if not roles:
        report(f"the lakehouse ({', '.join(sorted(b.name for b in zones))}) is readable by no workload identity: no EKS "
               "Pod Identity association or IRSA role in the stack, so pods can only use the node role (which they must "
               "not reach); add a role with s3:ListBucket/s3:GetObject on the zone buckets and kms:Decrypt on their key, "
               "bound to a service account with aws.eks.PodIdentityAssociation", None)
        return
    documents = {how: role_documents(role, res) for how, role in roles.items()}
    unknown: list[str] = []
    for bucket in zones:
        props = plain(bucket.props)
        arn = get(props, "arn")
        if arn is None and isinstance(get(props, "bucket"), str):
            arn = f"arn:aws:s3:::{get(props, 'bucket')}"
        key = bucket_key_arn(bucket, res)
        if arn is UNKNOWN or arn is None or key is UNKNOWN:
            unknown.append(f"{bucket.name}.arn")
            continue
        known = {how: [d for d in docs if d is not UNKNOWN] for how, docs in documents.items()}
        if any(reads(docs, arn, key) for docs in known.values()):
            continue
        if any(UNKNOWN in docs for docs in documents.values()):
            unknown.append(f"{bucket.name} policy documents")
            continue
        report(f"lakehouse bucket {bucket.name}: none of the workload identities ({'; '.join(sorted(roles))}) may "
               "s3:ListBucket it, s3:GetObject its objects and kms:Decrypt with its key", bucket.urn)
    if unknown:
        require_known(UNKNOWN, unknown[0])


POLICIES = [
    stack_policy("lakehouse-workload-identity",
                 "Every lakehouse zone bucket should be readable (S3 and its KMS key) by an EKS workload identity.",
                 _check_lakehouse_identity, "advisory"),
]
