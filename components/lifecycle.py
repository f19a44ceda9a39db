"""S3 lifecycle rules for the lakehouse tiers (pure: no resources are created here).

Objects age hot → cold → colder: STANDARD → STANDARD_IA → GLACIER_IR → DEEP_ARCHIVE, on the days
given by :class:`stacks.config.LifecycleConfig` (the model already checks that the days ascend).
Because every zone bucket is versioned, noncurrent versions would otherwise be kept forever at
full price: they move to GLACIER_IR and expire after ``noncurrent_expiry_days``. Incomplete
multipart uploads (large Parquet/model uploads that died half-way) are aborted after a week, as
their parts are billed but invisible.

Usage::

    rules = tiering_rules(LifecycleConfig())
    aws.s3.BucketLifecycleConfiguration("raw-lifecycle", bucket=bucket.id, rules=rules)
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_aws as aws

from policies.errors import ConfigError
from stacks.config import LifecycleConfig

# S3 rejects (at PutBucketLifecycleConfiguration, i.e. mid-`pulumi up`) a STANDARD_IA transition
# before day 30 (the config model checks that) and a later transition less than 30 days after the
# STANDARD_IA one ("Days ... must be 30 days more than ... STANDARD_IA"): checked here so the
# user hears it at preview. GLACIER_IR/DEEP_ARCHIVE only have minimum *billing* durations.
MIN_DAYS_IN_STANDARD_IA = 30
ABORT_MULTIPART_DAYS = 7
NONCURRENT_TO_GLACIER_IR_DAYS = 30
TIER_ORDER: tuple[str, ...] = ("STANDARD_IA", "GLACIER_IR", "DEEP_ARCHIVE")


@dataclass(frozen=True)
class Tier:
    storage_class: str
    days: int


def tiers(cfg: LifecycleConfig) -> list[Tier]:
    """The current-version transitions, coldest last. ConfigError where S3 would refuse them."""
    if cfg.glacier_ir_days < cfg.standard_ia_days + MIN_DAYS_IN_STANDARD_IA:
        raise ConfigError(
            f"plinth:lakehouse.lifecycle.glacierIrDays: must be at least standardIaDays + {MIN_DAYS_IN_STANDARD_IA} "
            f"(S3 keeps objects {MIN_DAYS_IN_STANDARD_IA} days in STANDARD_IA; got {cfg.glacier_ir_days} "
            f"after {cfg.standard_ia_days})"
        )
    return [
        Tier("STANDARD_IA", cfg.standard_ia_days),
        Tier("GLACIER_IR", cfg.glacier_ir_days),
        Tier("DEEP_ARCHIVE", cfg.deep_archive_days),
    ]


def noncurrent_transition_days(cfg: LifecycleConfig) -> int | None:
    """Days before a noncurrent version moves to GLACIER_IR, or None when it expires first
    (a transition on or after the expiry day would be rejected by S3 as pointless)."""
    days = min(NONCURRENT_TO_GLACIER_IR_DAYS, cfg.noncurrent_expiry_days)
    return days if days < cfg.noncurrent_expiry_days else None


def tiering_rules(cfg: LifecycleConfig, rule_id: str = "tiering") -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    """One rule for the whole bucket (empty prefix filter): tiering, noncurrent handling and the
    multipart clean-up. A single rule keeps S3 from having to arbitrate overlapping rules."""
    nc_days = noncurrent_transition_days(cfg)
    noncurrent_transitions = (
        [aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionTransitionArgs(noncurrent_days=nc_days, storage_class="GLACIER_IR")]
        if nc_days is not None
        else None
    )
    return [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id=rule_id,
            status="Enabled",
            # An explicit empty filter applies the rule to every object; omitting it makes the
            # provider warn and S3 treat the rule as legacy prefix-less.
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            transitions=[
                aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(days=t.days, storage_class=t.storage_class)
                for t in tiers(cfg)
            ],
            noncurrent_version_transitions=noncurrent_transitions,
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=cfg.noncurrent_expiry_days
            ),
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=ABORT_MULTIPART_DAYS
            ),
        )
    ]


def log_retention_rules(days: int) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    """Access logs are evidence, not data: keep them ``days`` then delete (versions too)."""
    return [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="expire-access-logs",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=min(30, days)
            ),
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=ABORT_MULTIPART_DAYS
            ),
        )
    ]
