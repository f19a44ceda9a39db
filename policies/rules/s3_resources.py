"""S3 safety judged on each resource, so ``pulumi up`` refuses a bad one before it is created.

A resource policy runs on a resource's inputs immediately before the engine creates or updates it,
and a mandatory violation stops the update there (pulumi-policy README: "asserting that cloud
resource definitions comply with the policy immediately before they are created or updated").
Stack policies run only once every resource exists (Pulumi docs, "Policy as code concepts": stack
policies "do not block an out-of-compliance resource from being created"). So whatever can be seen
on one resource is judged here:

- a ``BucketVersioning`` whose status isn't ``Enabled`` (or a bucket's inline ``versioning`` off);
- a ``BucketPublicAccessBlock`` with any of the four switches off;
- a public canned ACL or a grant to AllUsers/AuthenticatedUsers (bucket inline, ``BucketAcl``);
- a bucket policy that allows any principal without a condition;
- a bucket policy without the Deny of plain-HTTP requests.

What only shows across resources stays in the stack policies of :mod:`policies.rules.s3`: a bucket
with no side resource at all, and whether AES256 is acceptable (only on a server-access-log
target, which only the ``BucketLogging`` join reveals).

During a first preview a bucket policy document built from the bucket's ARN is unknown: those two
rules say they cannot be evaluated; at ``pulumi up`` time the document is known before the policy
resource is created, and they judge it then.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules._base import resource_policy
from policies.rules._props import (
    UNKNOWN,
    as_list,
    get,
    parse_json_document,
    plain,
    require_known,
    statements,
    truthy,
)

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
BUCKET_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
ACL = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")

PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}
PUBLIC_GRANTEES = ("http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")


# ---- pure judges (documents and settings), shared with the stack policies ------------------------

def _anyone(principal: Any) -> bool:
    return principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS")))


def public_statements(doc: dict[str, Any]) -> list[str]:
    """Sids (or indexes) of Allow statements open to any principal without a condition."""
    return [str(st.get("Sid") or i) for i, st in enumerate(statements(doc))
            if st.get("Effect") == "Allow" and _anyone(st.get("Principal")) and not st.get("Condition")]


def denies_insecure_transport(doc: dict[str, Any]) -> bool:
    """A Deny of s3:* (or *) to any principal when aws:SecureTransport is false (AWS S3 user guide,
    "Enforce encryption of data in transit")."""
    for st in statements(doc):
        if st.get("Effect") != "Deny" or not _anyone(st.get("Principal")):
            continue
        actions = as_list(st.get("Action"))
        cond = st.get("Condition") or {}
        secure = (cond.get("Bool") or {}).get("aws:SecureTransport") if isinstance(cond, dict) else None
        if ("*" in actions or "s3:*" in actions) and [str(v).lower() for v in as_list(secure)] == ["false"]:
            return True
    return False


def acl_problems(props: dict[str, Any]) -> list[str]:
    """Public canned ACLs and grants to everyone, on a bucket (inline) or a BucketAcl."""
    problems = []
    acl = get(props, "acl")
    if isinstance(acl, str) and acl in PUBLIC_ACLS:
        problems.append(f"canned ACL {acl} makes it public")
    grants = as_list(get(props, "grants", default=[])) + as_list(get(props, "accessControlPolicy", "grants", default=[]))
    for g in grants:
        uri = get(g, "grantee", "uri", default=get(g, "uri"))
        if uri in PUBLIC_GRANTEES:
            problems.append(f"ACL grant to {uri}")
    return problems


def _policy_document(args: ResourceValidationArgs) -> dict[str, Any] | None:
    """The bucket policy a BucketPolicy (or a bucket, inline) sets; None when there is none."""
    if args.resource_type not in (*BUCKET_POLICY, BUCKET):
        return None
    value = get(plain(args.props), "policy")
    if value is None:
        return None
    return parse_json_document(value, "policy") or {}


# ---- rules -------------------------------------------------------------------------------------

def _check_versioning(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = plain(args.props)
    if args.resource_type in VERSIONING:
        status = require_known(get(props, "versioningConfiguration", "status"), "versioningConfiguration", "status")
        if status != "Enabled":
            report(f"{args.name}: versioning status is {status or 'unset'}; set versioning_configuration "
                   "status 'Enabled' (data, features and models are versioned)", None)
    elif args.resource_type == BUCKET:
        enabled = get(props, "versioning", "enabled")
        if enabled is not None and enabled is not UNKNOWN and not truthy(enabled):
            report(f"bucket {args.name}: inline versioning is disabled; enable it (or use a BucketVersioning)", None)


def _check_public_access_block(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in PUBLIC_ACCESS_BLOCK:
        return
    props = plain(args.props)
    for flag in PAB_FLAGS:
        require_known(get(props, flag), flag)
    off = [flag for flag in PAB_FLAGS if not truthy(get(props, flag))]
    if off:
        report(f"{args.name}: public access block leaves {', '.join(off)} off (all four must be true)", None)


def _check_acl(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (*ACL, BUCKET):
        return
    props = plain(args.props)
    for key in ("acl", "grants", "accessControlPolicy"):
        require_known(get(props, key), key)
    for problem in acl_problems(props):
        report(f"{args.name}: {problem}; S3 buckets stay private (grant access with IAM or the bucket policy)", None)


def _check_policy_not_public(args: ResourceValidationArgs, report: ReportViolation) -> None:
    doc = _policy_document(args)
    if doc is None:
        return
    opened = public_statements(doc)
    if opened:
        report(f"{args.name}: bucket policy allows any principal without a condition (statements {', '.join(opened)})", None)


def _check_policy_tls_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    doc = _policy_document(args)
    if doc is None:
        return
    if not denies_insecure_transport(doc):
        report(f"{args.name}: bucket policy has no Deny of s3:* when aws:SecureTransport is false; "
               "requests over plain HTTP must be refused", None)


POLICIES = [
    resource_policy("s3-versioning-enabled", "S3 versioning resources must enable versioning (before the bucket is used).",
                    _check_versioning, "mandatory"),
    resource_policy("s3-public-access-block-complete", "S3 public access blocks must turn on all four switches.",
                    _check_public_access_block, "mandatory"),
    resource_policy("s3-acl-not-public", "S3 buckets and bucket ACLs must grant nothing to everyone.", _check_acl, "mandatory"),
    resource_policy("s3-policy-not-public", "S3 bucket policies must not allow any principal without a condition.",
                    _check_policy_not_public, "mandatory"),
    resource_policy("s3-policy-tls-only", "S3 bucket policies must deny requests that don't use TLS.",
                    _check_policy_tls_only, "mandatory"),
]
