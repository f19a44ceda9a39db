"""The data pillar: an S3 lakehouse (one bucket per zone) with Glue databases for Iceberg tables.

Usage (from a strategy)::

    from components.lakehouse import Lakehouse, LakehouseArgs

    lake = Lakehouse("lake", LakehouseArgs(lakehouse=cfg.lakehouse, prefix=cfg.prefix, region=cfg.region,
                                           tags=cfg.resource_tags(), restrict_to_region=cfg.strategy == "hybrid"))
    pulumi.export("buckets", lake.bucket_names)   # {"raw": "plinth-raw-…", "curated": …}

Every zone bucket (raw, curated, features, models by default) is versioned (data, features and
models are versioned, as the seed asks), encrypted with one customer-managed KMS key that rotates
yearly, closed to the public (all four switches), reachable over TLS only, tiered hot → cold by
lifecycle rules (:mod:`components.lifecycle`), and writes server access logs to a separate log
bucket. The log bucket uses SSE-S3: S3 server access logging cannot deliver to a bucket whose
default encryption is SSE-KMS.

``restrict_to_region`` (hybrid: data sovereignty) pins every resource to ``region`` explicitly
(never the provider's default), keeps the KMS key single-region, denies setting up replication
(the way objects would leave the region) and tags resources with the residency region.

Policy documents are built by plain functions (``*_policy``) from plain strings, tested apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.lifecycle import log_retention_rules, tiering_rules
from policies.errors import ConfigError
from stacks.config import LakehouseConfig

LOG_RETENTION_DAYS = 365
_ZONE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_BUCKET_PREFIX_MAX = 37  # S3 bucket_prefix limit (63 minus the 26 characters Pulumi/TF append)
Policy = dict[str, Any]


# ---- pure helpers ---------------------------------------------------------------------------

def check_zones(zones: list[str], prefix: str) -> None:
    """Zones become bucket names: lowercase, digits, '-'; unique; short enough for the prefix."""
    if len(set(zones)) != len(zones):
        raise ConfigError("plinth:lakehouse.zones: zone names must be unique")
    for i, zone in enumerate(zones):
        if not _ZONE.match(zone):
            raise ConfigError(f"plinth:lakehouse.zones[{i}]: must be lowercase letters, digits and '-' (got {zone!r})")
        if len(zone_bucket_prefix(prefix, zone)) > _BUCKET_PREFIX_MAX:
            raise ConfigError(
                f"plinth:lakehouse.zones[{i}]: {zone!r} is too long: '<prefix>-<zone>-' must fit in {_BUCKET_PREFIX_MAX} characters"
            )


def zone_bucket_prefix(prefix: str, zone: str) -> str:
    return f"{prefix}-{zone}-"


def glue_name(*parts: str) -> str:
    """Glue/Athena/Iceberg identifiers: lowercase [a-z0-9_] (a '-' breaks unquoted SQL)."""
    name = re.sub(r"[^a-z0-9_]+", "_", "_".join(parts).lower()).strip("_")
    name = re.sub(r"_+", "_", name)
    if not name:
        raise ConfigError(f"plinth:lakehouse.zones: cannot derive a Glue name from {parts!r}")
    return name[:255]


def tls_only_statement(bucket_arn: str) -> Policy:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def zone_bucket_policy(bucket_arn: str, *, pin_region: bool) -> Policy:
    statements = [tls_only_statement(bucket_arn)]
    if pin_region:
        # Replication is how S3 copies objects to another region; with data pinned nobody may set it up.
        statements.append({
            "Sid": "DenyReplicationOutOfRegion",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutReplicationConfiguration",
            "Resource": bucket_arn,
        })
    return {"Version": "2012-10-17", "Statement": statements}


def log_bucket_policy(log_bucket_arn: str, source_bucket_arns: list[str], account_id: str) -> Policy:
    """Lets S3's log delivery service write, only for our source buckets in our account (the
    bucket-policy way; ACL grants do not work with BucketOwnerEnforced)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "S3ServerAccessLogsPolicy",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{log_bucket_arn}/*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": sorted(source_bucket_arns)},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
            tls_only_statement(log_bucket_arn),
        ],
    }


def kms_key_policy(account_id: str, partition: str = "aws", *, s3_tables: bool = False) -> Policy:
    """The default key policy (the account, i.e. IAM, governs use) plus, for S3 Tables, the
    maintenance principal that compacts tables (it needs GenerateDataKey and Decrypt)."""
    statements: list[Policy] = [{
        "Sid": "EnableIamPolicies",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",  # in a key policy "*" means this key
    }]
    if s3_tables:
        statements.append({
            "Sid": "S3TablesMaintenance",
            "Effect": "Allow",
            "Principal": {"Service": "maintenance.s3tables.amazonaws.com"},
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        })
    return {"Version": "2012-10-17", "Statement": statements}


def partition_of(arn: str) -> str:
    """'arn:aws-us-gov:iam::1:user/x' -> 'aws-us-gov' (avoids a second invoke)."""
    parts = arn.split(":")
    return parts[1] if len(parts) > 2 and parts[1] else "aws"


# ---- component ------------------------------------------------------------------------------

@dataclass
class LakehouseArgs:
    lakehouse: LakehouseConfig
    prefix: str
    region: str
    tags: dict[str, str] = field(default_factory=dict)
    restrict_to_region: bool = False


class Lakehouse(pulumi.ComponentResource):
    bucket_names: pulumi.Output[dict[str, str]]
    bucket_arns: pulumi.Output[dict[str, str]]
    glue_database_names: pulumi.Output[dict[str, str]]
    log_bucket_name: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]
    table_bucket_arn: pulumi.Output[str] | None
    endpoint: str

    def __init__(self, name: str, args: LakehouseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("plinth:data:Lakehouse", name, None, opts)
        cfg, region, p = args.lakehouse, args.region, args.prefix
        check_zones(cfg.zones, p)
        rules = tiering_rules(cfg.lifecycle)  # raises ConfigError before any resource exists
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "plinth:pillar": "data"}
        if args.restrict_to_region:
            tags["plinth:data-residency"] = region

        caller = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        key = aws.kms.Key(
            f"{name}-key",
            description=f"{p} lakehouse data key",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            multi_region=False,
            policy=pulumi.Output.all(caller.account_id, caller.arn).apply(
                lambda a: json.dumps(kms_key_policy(a[0], partition_of(a[1]), s3_tables=cfg.s3_tables))
            ),
            region=region,
            tags=tags,
            opts=child,
        )
        aws.kms.Alias(f"{name}-key-alias", name=f"alias/{p}-{name}-lakehouse", target_key_id=key.key_id,
                      region=region, opts=child)

        # -- access-log bucket (SSE-S3: log delivery cannot write to SSE-KMS default encryption)
        logs = aws.s3.Bucket(f"{name}-access-logs", bucket_prefix=f"{p}-access-logs-", force_destroy=cfg.force_destroy,
                             region=region, tags={**tags, "plinth:zone": "access-logs"}, opts=child)
        log_ownership = aws.s3.BucketOwnershipControls(
            f"{name}-access-logs", bucket=logs.id, region=region,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=child)
        aws.s3.BucketVersioning(f"{name}-access-logs", bucket=logs.id, region=region,
                                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                                opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-access-logs", bucket=logs.id, region=region,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"))],
            opts=child)
        log_pab = self._block_public(f"{name}-access-logs", logs, region)
        aws.s3.BucketLifecycleConfiguration(f"{name}-access-logs", bucket=logs.id, region=region,
                                            rules=log_retention_rules(LOG_RETENTION_DAYS), opts=child)

        buckets: dict[str, aws.s3.Bucket] = {}
        for zone in cfg.zones:
            buckets[zone] = aws.s3.Bucket(f"{name}-{zone}", bucket_prefix=zone_bucket_prefix(p, zone),
                                          force_destroy=cfg.force_destroy, region=region,
                                          tags={**tags, "plinth:zone": zone}, opts=child)

        log_policy = aws.s3.BucketPolicy(
            f"{name}-access-logs", bucket=logs.id, region=region,
            policy=pulumi.Output.all(logs.arn, caller.account_id, *[b.arn for b in buckets.values()]).apply(
                lambda a: json.dumps(log_bucket_policy(a[0], list(a[2:]), a[1]))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_pab, log_ownership]))

        glue_names: dict[str, pulumi.Output[str]] = {}
        for zone, bucket in buckets.items():
            versioning = aws.s3.BucketVersioning(
                f"{name}-{zone}", bucket=bucket.id, region=region,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"), opts=child)
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-{zone}", bucket=bucket.id, region=region,
                rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key.arn),
                    # bucket keys cut KMS request costs (and throttling) for many small objects
                    bucket_key_enabled=True)],
                opts=child)
            pab = self._block_public(f"{name}-{zone}", bucket, region)
            # noncurrent-version rules only make sense once versioning is on
            aws.s3.BucketLifecycleConfiguration(f"{name}-{zone}", bucket=bucket.id, rules=rules, region=region,
                                                opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]))
            aws.s3.BucketLogging(f"{name}-{zone}", bucket=bucket.id, target_bucket=logs.id, target_prefix=f"{zone}/",
                                 region=region, opts=pulumi.ResourceOptions(parent=self, depends_on=[log_policy]))
            # a policy put while the public access block is being written fails with OperationAborted
            aws.s3.BucketPolicy(
                f"{name}-{zone}", bucket=bucket.id, region=region,
                policy=bucket.arn.apply(lambda arn: json.dumps(zone_bucket_policy(arn, pin_region=args.restrict_to_region))),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[pab]))
            db = aws.glue.CatalogDatabase(
                f"{name}-{zone}", name=glue_name(p, zone), region=region,
                description=f"{p} lakehouse zone {zone} (Apache Iceberg tables)",
                location_uri=bucket.bucket.apply(lambda b: f"s3://{b}/"),
                tags={**tags, "plinth:zone": zone}, opts=child)
            glue_names[zone] = db.name

        self.table_bucket_arn = None
        if cfg.s3_tables:
            self.table_bucket_arn = self._s3_tables(name, cfg, p, region, key, tags)

        self.bucket_names = pulumi.Output.all(**{z: b.bucket for z, b in buckets.items()})
        self.bucket_arns = pulumi.Output.all(**{z: b.arn for z, b in buckets.items()})
        self.glue_database_names = pulumi.Output.all(**glue_names)
        self.log_bucket_name = logs.bucket
        self.kms_key_arn = key.arn
        self.endpoint = f"https://s3.{region}.amazonaws.com"
        self.register_outputs({
            "bucket_names": self.bucket_names,
            "bucket_arns": self.bucket_arns,
            "glue_database_names": self.glue_database_names,
            "log_bucket_name": self.log_bucket_name,
            "kms_key_arn": self.kms_key_arn,
            "table_bucket_arn": self.table_bucket_arn,
            "endpoint": self.endpoint,
        })

    def _block_public(self, name: str, bucket: aws.s3.Bucket, region: str) -> aws.s3.BucketPublicAccessBlock:
        return aws.s3.BucketPublicAccessBlock(name, bucket=bucket.id, block_public_acls=True, block_public_policy=True,
                                              ignore_public_acls=True, restrict_public_buckets=True, region=region,
                                              opts=pulumi.ResourceOptions(parent=self))

    def _s3_tables(self, name: str, cfg: LakehouseConfig, prefix: str, region: str, key: aws.kms.Key,
                   tags: dict[str, str]) -> pulumi.Output[str]:
        """S3 Tables: managed Iceberg with automatic compaction, one namespace per zone."""
        table_bucket = aws.s3tables.TableBucket(
            f"{name}-tables", name=f"{prefix}-{name}-tables".replace("_", "-").lower(), region=region,
            force_destroy=cfg.force_destroy,
            encryption_configuration=aws.s3tables.TableBucketEncryptionConfigurationArgs(
                sse_algorithm="aws:kms", kms_key_arn=key.arn),
            tags=tags, opts=pulumi.ResourceOptions(parent=self))
        for zone in cfg.zones:
            aws.s3tables.Namespace(f"{name}-tables-{zone}", namespace=glue_name(zone), table_bucket_arn=table_bucket.arn,
                                   region=region, opts=pulumi.ResourceOptions(parent=self))
        return table_bucket.arn
