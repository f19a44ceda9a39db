"""S3 buckets: versioned, KMS-encrypted, public access fully blocked, TLS-only, lifecycle tiers.

pulumi-aws v7 splits a bucket's settings into side resources, so these are STACK policies that join
each ``aws:s3/bucket:Bucket`` with the side resources whose ``bucket`` input refers to it (see
``_graph`` for how the join works while ids are still unknown in preview). Settings given inline
on the bucket (deprecated v7 arguments) count too.

Server-access-log target buckets are a documented exception for encryption: S3 log delivery only
supports SSE-S3 (AES256) on the target bucket, so there AES256 is accepted; and an expiration rule
is enough lifecycle for logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from policies.rules._base import stack_policy
from policies.rules._graph import of_type, referenced, referrers
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
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
BUCKET_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
LIFECYCLE = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
ACL = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")

PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}
PUBLIC_GRANTEES = ("http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
KMS_ALGORITHMS = {"aws:kms", "aws:kms:dsse"}


@dataclass
class BucketFacts:
    """A bucket and the side resources that refer to it."""

    bucket: PolicyResource
    versioning: list[PolicyResource] = field(default_factory=list)
    encryption: list[PolicyResource] = field(default_factory=list)
    public_access_block: list[PolicyResource] = field(default_factory=list)
    policies: list[PolicyResource] = field(default_factory=list)
    lifecycle: list[PolicyResource] = field(default_factory=list)
    acls: list[PolicyResource] = field(default_factory=list)
    is_log_target: bool = False

    @property
    def props(self) -> dict[str, Any]:
        return plain(self.bucket.props)

    @property
    def label(self) -> str:
        return f"bucket {self.bucket.name}"


def bucket_facts(resources: Sequence[PolicyResource]) -> list[BucketFacts]:
    buckets = of_type(resources, BUCKET)
    side = {kind: of_type(resources, *kind) for kind in (VERSIONING, ENCRYPTION, PUBLIC_ACCESS_BLOCK, BUCKET_POLICY, LIFECYCLE, ACL)}
    logging = of_type(resources, *LOGGING)
    out = []
    for b in buckets:
        out.append(BucketFacts(
            bucket=b,
            versioning=referrers(b, "bucket", side[VERSIONING]),
            encryption=referrers(b, "bucket", side[ENCRYPTION]),
            public_access_block=referrers(b, "bucket", side[PUBLIC_ACCESS_BLOCK]),
            policies=referrers(b, "bucket", side[BUCKET_POLICY]),
            lifecycle=referrers(b, "bucket", side[LIFECYCLE]),
            acls=referrers(b, "bucket", side[ACL]),
            is_log_target=any(referenced(lg, "targetBucket", [b]) is not None for lg in logging),
        ))
    return out


class _Deferred:
    """Collects 'unknown in preview' while the other buckets are still judged, then raises once."""

    def __init__(self) -> None:
        self.path: list[str] | None = None

    def note(self, *path: str) -> None:
        self.path = self.path or list(path)

    def raise_if_any(self) -> None:
        if self.path is not None:
            require_known(UNKNOWN, *self.path)


# --- versioning -------------------------------------------------------------------------------------

def versioning_state(f: BucketFacts) -> bool | None:
    """True enabled, False not, None unknown in preview."""
    if truthy(get(f.props, "versioning", "enabled")):
        return True
    unknown = False
    for v in f.versioning:
        status = get(plain(v.props), "versioningConfiguration", "status")
        if status is UNKNOWN:
            unknown = True
        elif status == "Enabled":
            return True
    return None if unknown else False


def _check_versioning(args: StackValidationArgs, report: ReportViolation) -> None:
    deferred = _Deferred()
    for f in bucket_facts(args.resources):
        state = versioning_state(f)
        if state is None:
            deferred.note(f.bucket.name, "versioningConfiguration", "status")
        elif not state:
            report(f"{f.label}: no BucketVersioning with status Enabled refers to it; add "
                   "aws.s3.BucketVersioning(bucket=bucket.id, versioning_configuration={'status': 'Enabled'})", f.bucket.urn)
    deferred.raise_if_any()


# --- encryption -------------------------------------------------------------------------------------

def encryption_algorithms(f: BucketFacts) -> list[Any]:
    algos: list[Any] = []
    inline = get(f.props, "serverSideEncryptionConfiguration")
    for rule in as_list(get(inline, "rule")) + as_list(get(inline, "rules")):
        algos.append(get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm"))
    for e in f.encryption:
        rules = get(plain(e.props), "rules")
        if rules is UNKNOWN:
            algos.append(UNKNOWN)
            continue
        for rule in as_list(rules):
            algos.append(get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm"))
    return algos


def _check_kms(args: StackValidationArgs, report: ReportViolation) -> None:
    deferred = _Deferred()
    for f in bucket_facts(args.resources):
        algos = encryption_algorithms(f)
        accepted = KMS_ALGORITHMS | ({"AES256"} if f.is_log_target else set())
        if any(a in accepted for a in algos if a is not UNKNOWN):
            continue
        if any(a is UNKNOWN for a in algos):
            deferred.note(f.bucket.name, "rules", "applyServerSideEncryptionByDefault", "sseAlgorithm")
            continue
        found = ", ".join(sorted({str(a) for a in algos})) or "none"
        need = "aws:kms (AES256 accepted: it is a server-access-log target)" if f.is_log_target else "aws:kms with a customer key"
        report(f"{f.label}: default encryption is {found}; needs {need} through a "
               "BucketServerSideEncryptionConfiguration", f.bucket.urn)
    deferred.raise_if_any()


# --- public access ----------------------------------------------------------------------------------

def _public_statements(doc: dict[str, Any]) -> list[str]:
    """Sids (or indexes) of Allow statements open to any principal without a condition."""
    found = []
    for i, st in enumerate(statements(doc)):
        principal = st.get("Principal")
        anyone = principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS")))
        if st.get("Effect") == "Allow" and anyone and not st.get("Condition"):
            found.append(str(st.get("Sid") or i))
    return found


def public_access_problems(f: BucketFacts, deferred: _Deferred) -> list[str]:
    problems: list[str] = []
    blocks = [plain(p.props) for p in f.public_access_block]
    if not blocks:
        problems.append("no BucketPublicAccessBlock refers to it")
    else:
        block = blocks[0]
        off = [flag for flag in PAB_FLAGS if get(block, flag) is not UNKNOWN and not truthy(get(block, flag))]
        if any(get(block, flag) is UNKNOWN for flag in PAB_FLAGS):
            deferred.note(f.bucket.name, "publicAccessBlock")
        if off:
            problems.append(f"public access block leaves {', '.join(off)} off (all four must be true)")
    acls = [get(f.props, "acl")] + [get(plain(a.props), "acl") for a in f.acls]
    public = sorted({a for a in acls if isinstance(a, str) and a in PUBLIC_ACLS})
    if public:
        problems.append(f"canned ACL {', '.join(public)} makes it public")
    for a in f.acls:
        grants = get(plain(a.props), "accessControlPolicy", "grants", default=[])
        for g in as_list(grants) if grants is not UNKNOWN else []:
            if get(g, "grantee", "uri") in PUBLIC_GRANTEES:
                problems.append(f"ACL grant to {get(g, 'grantee', 'uri')}")
    for p in f.policies:
        doc_value = get(plain(p.props), "policy")
        if doc_value is UNKNOWN:
            continue  # judged by the TLS rule's unknown note; a policy we can't read isn't proof of public
        doc = parse_json_document(doc_value, "policy") or {}
        opened = _public_statements(doc)
        if opened:
            problems.append(f"bucket policy allows any principal without a condition (statements {', '.join(opened)})")
    return problems


def _check_public_access(args: StackValidationArgs, report: ReportViolation) -> None:
    deferred = _Deferred()
    for f in bucket_facts(args.resources):
        for problem in public_access_problems(f, deferred):
            report(f"{f.label}: {problem}", f.bucket.urn)
    deferred.raise_if_any()


# --- TLS only ---------------------------------------------------------------------------------------

def denies_insecure_transport(doc: dict[str, Any]) -> bool:
    for st in statements(doc):
        if st.get("Effect") != "Deny":
            continue
        principal = st.get("Principal")
        anyone = principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS")))
        actions = as_list(st.get("Action"))
        all_actions = "*" in actions or "s3:*" in actions
        cond = st.get("Condition") or {}
        secure = (cond.get("Bool") or {}).get("aws:SecureTransport") if isinstance(cond, dict) else None
        insecure = [str(v).lower() for v in as_list(secure)] == ["false"]
        if anyone and all_actions and insecure:
            return True
    return False


def _check_tls_only(args: StackValidationArgs, report: ReportViolation) -> None:
    deferred = _Deferred()
    for f in bucket_facts(args.resources):
        docs = [get(plain(p.props), "policy") for p in f.policies]
        known = [parse_json_document(d, "policy") or {} for d in docs if d is not UNKNOWN]
        if any(denies_insecure_transport(d) for d in known):
            continue
        if len(known) < len(docs):
            deferred.note(f.bucket.name, "policy")
            continue
        what = "no BucketPolicy refers to it" if not docs else "its bucket policy has no Deny of s3:* when aws:SecureTransport is false"
        report(f"{f.label}: {what}; requests over plain HTTP must be refused", f.bucket.urn)
    deferred.raise_if_any()


# --- lifecycle --------------------------------------------------------------------------------------

def lifecycle_rules(f: BucketFacts) -> list[Any]:
    rules: list[Any] = [r for r in as_list(get(f.props, "lifecycleRules")) if truthy(get(r, "enabled"))]
    for lc in f.lifecycle:
        value = get(plain(lc.props), "rules")
        if value is UNKNOWN:
            rules.append(UNKNOWN)
            continue
        rules += [r for r in as_list(value) if get(r, "status") == "Enabled"]
    return rules


def _check_lifecycle(args: StackValidationArgs, report: ReportViolation) -> None:
    deferred = _Deferred()
    for f in bucket_facts(args.resources):
        rules = lifecycle_rules(f)
        known = [r for r in rules if r is not UNKNOWN]
        tiered = any(as_list(get(r, "transitions")) for r in known)
        expiring = any(get(r, "expiration") is not None for r in known)
        if tiered or (f.is_log_target and expiring):
            continue
        if len(known) < len(rules):
            deferred.note(f.bucket.name, "rules")
            continue
        report(f"{f.label}: no enabled lifecycle rule moves objects to colder tiers "
               "(STANDARD_IA -> GLACIER_IR -> DEEP_ARCHIVE)", f.bucket.urn)
    deferred.raise_if_any()


POLICIES = [
    stack_policy("s3-bucket-versioning", "S3 buckets must be versioned (data, features and models are versioned).",
                 _check_versioning, "mandatory"),
    stack_policy("s3-bucket-kms-encryption", "S3 buckets must default to SSE-KMS encryption.", _check_kms, "mandatory"),
    stack_policy("s3-bucket-public-access-blocked",
                 "S3 buckets must block public access (all four flags) and grant nothing to everyone.",
                 _check_public_access, "mandatory"),
    stack_policy("s3-bucket-tls-only", "S3 bucket policies must deny requests that don't use TLS.", _check_tls_only, "mandatory"),
    stack_policy("s3-bucket-lifecycle-tiers", "S3 buckets should tier objects hot -> cold -> colder with a lifecycle configuration.",
                 _check_lifecycle, "advisory"),
]
