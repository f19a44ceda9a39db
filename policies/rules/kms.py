"""KMS keys rotate: a symmetric customer key without automatic rotation keeps one key for years."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules._base import resource_policy
from policies.rules._props import UNKNOWN, get, plain, require_known, truthy

KEY = "aws:kms/key:Key"


def _check_rotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != KEY:
        return
    props = plain(args.props)
    spec = get(props, "customerMasterKeySpec", default=get(props, "keySpec", default="SYMMETRIC_DEFAULT"))
    if spec is not UNKNOWN and spec != "SYMMETRIC_DEFAULT":
        return  # AWS only rotates symmetric encryption keys automatically
    if truthy(get(props, "enableKeyRotation")):
        return
    require_known(get(props, "enableKeyRotation"), "enableKeyRotation")
    report(f"KMS key {args.name}: enableKeyRotation is not true; set enable_key_rotation=True", None)


POLICIES = [
    resource_policy("kms-key-rotation", "KMS keys must rotate automatically.", _check_rotation, "mandatory"),
]
