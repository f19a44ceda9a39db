"""S3 buckets: versioned, KMS-encrypted, public access blocked, TLS-only, lifecycle tiers — the joins.

pulumi-aws v7 splits a bucket's settings into side resources. What each side resource says is
judged on that resource before it is created (:mod:`policies.rules.s3_resources`); what only shows
across resources is judged here, as STACK policies joining each ``aws:s3/bucket:Bucket`` with the
side resources whose ``bucket`` input refers to it (see ``_graph`` for how the join works while ids
are still unknown in preview):

- a bucket no versioning / public-access-block / bucket-policy resource refers to (settings given
  inline on the bucket, deprecated v7 arguments, count too);
- default encryption that isn't SSE-KMS, except on a server-access-log target bucket: S3 log delivery
  only supports SSE-S3 (AES256) there, and only the ``BucketLogging`` join shows which bucket that is;
- lifecycle tiers (advisory), where an expiration rule is enough for a log bucket.

These run when every resource exists (end of ``pulumi up``) or at the end of a preview, so they fail
the update but cannot stop the bucket's creation: that is what the per-resource rules are for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from policies.rules._base import stack_policy
from policies.rules._graph import of_type, referenced, referrers
from policies.rules._props import UNKNOWN, as_list, get, plain, require_known, truthy
from policies.rules.s3_resources import BUCKET, BUCKET_POLICY, PUBLIC_ACCESS_BLOCK, VERSIONING

ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
LIFECYCLE = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
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
    is_log_target: bool = False

    @property
    def props(self) -> dict[str, Any]:
        return plain(self.bucket.props)

    @property
    def label(self) -> str:
        return f"bucket {self.bucket.name}"


def bucket_facts(resources: Sequence[PolicyResource]) -> list[BucketFacts]:
    buckets = of_type(resources, BUCKET)
    side = {kind: of_type(resources, *kind) for kind in (VERSIONING, ENCRYPTION, PUBLIC_ACCESS_BLOCK, BUCKET_POLICY, LIFECYCLE)}
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

def has_versioning(f: BucketFacts) -> bool:
    """Versioning is configured for the bucket: a side resource refers to it or the bucket enables it
    inline. Whether a side resource says ``Enabled`` is judged on it (s3-versioning-enabled)."""
    return bool(f.versioning) or truthy(get(f.props, "versioning", "enabled"))


def _check_versioning(args: StackValidationArgs, report: ReportViolation) -> None:
    for f in bucket_facts(args.resources):
        if not has_versioning(f):
            report(f"{f.label}: no BucketVersioning refers to it; add "
                   "aws.s3.BucketVersioning(bucket=bucket.id, versioning_configuration={'status': 'Enabled'})", f.bucket.urn)


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


# --- public access and TLS: is there a side resource at all ----------------------------------------

def _check_public_access(args: StackValidationArgs, report: ReportViolation) -> None:
    for f in bucket_facts(args.resources):
        if not f.public_access_block:
            report(f"{f.label}: no BucketPublicAccessBlock refers to it; add one with all four switches on "
                   "(its settings, ACLs and the bucket policy are judged on those resources)", f.bucket.urn)


def _check_tls_only(args: StackValidationArgs, report: ReportViolation) -> None:
    for f in bucket_facts(args.resources):
        if not f.policies and get(f.props, "policy") is None:
            report(f"{f.label}: no BucketPolicy refers to it; requests over plain HTTP must be refused "
                   "(a Deny of s3:* when aws:SecureTransport is false)", f.bucket.urn)


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
    stack_policy("s3-bucket-versioning", "S3 buckets must have versioning configured (data, features and models are versioned).",
                 _check_versioning, "mandatory"),
    stack_policy("s3-bucket-kms-encryption", "S3 buckets must default to SSE-KMS encryption.", _check_kms, "mandatory"),
    stack_policy("s3-bucket-public-access-blocked", "S3 buckets must have a public access block.",
                 _check_public_access, "mandatory"),
    stack_policy("s3-bucket-tls-only", "S3 buckets must have a bucket policy (which must deny requests without TLS).",
                 _check_tls_only, "mandatory"),
    stack_policy("s3-bucket-lifecycle-tiers", "S3 buckets should tier objects hot -> cold -> colder with a lifecycle configuration.",
                 _check_lifecycle, "advisory"),
]
