"""How an edge device reaches its lakehouse zones: the AWS IoT credentials provider (pure builders).

A device holds an X.509 certificate, not AWS keys. It asks the credentials provider endpoint
(``aws iot describe-endpoint --endpoint-type iot:CredentialProvider``) for
``/role-aliases/<alias>/credentials`` over mutual TLS with its certificate, sending its thing name in
the ``x-amzn-iot-thingname`` header; IoT checks the thing is attached to that certificate, assumes the
role the alias points at, and returns short-lived credentials (AWS IoT Developer Guide, "Authorizing
direct calls to AWS services using AWS IoT Core credential provider"). What plinth writes:

- an IAM role trusted by ``credentials.iot.amazonaws.com`` (the documented trust policy);
- an ``aws.iot.RoleAlias`` naming it, with the credential lifetime from the config;
- ``iot:AssumeRoleWithCertificate`` on *that alias only*, in the device's IoT policy
  (:func:`components.iot_policy.device_policy_document`);
- the role's policy (:func:`lake_access_policy`): per zone, S3 access under
  ``devices/${credentials-iot:ThingName}/`` only — write is PutObject (+ AbortMultipartUpload), read is
  GetObject plus ListBucket limited to that prefix — and KMS only as S3 uses it: ``kms:ViaService`` is
  S3 in the stack's region and the encryption context names one of the zone buckets.
  ``credentials-iot:ThingName`` exists only when the device sends the thing-name header; without it
  the resources match nothing, so access fails closed.

Devices whose ``zones`` differ get different roles and aliases (:func:`access_sets`): the policy
variables name the thing, not its zones, so one role cannot tell two devices' zone lists apart.

Reference build that ran for real: aws/aws-iot-fleetwise-edge ``tools/cfn-templates/
iot-credentials-provider.yml`` (same trust policy; its S3 grant ``<bucket>/*raw-data/${credentials-iot:
ThingName}/*``). plinth's is narrower: no ``s3:PutObjectAcl`` (buckets enforce owner), no bucket-wide
ListBucket, KMS pinned to S3 and the zone buckets.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from policies.errors import ConfigError
from stacks.config import EdgeConfig

THING = "${credentials-iot:ThingName}"
DEVICE_PREFIX = "devices"  # objects of a device live under <zone bucket>/devices/<thing name>/
CREDENTIALS_SERVICE = "credentials.iot.amazonaws.com"
CREDENTIALS_ENDPOINT_TYPE = "iot:CredentialProvider"  # DescribeEndpoint's value (not "CredentialsProvider")
DATA_ENDPOINT_TYPE = "iot:Data-ATS"
_ROLE_ALIAS = re.compile(r"^[\w=,@-]{1,128}$")  # CreateRoleAlias: 1-128 of [\w=,@-]
Policy = dict[str, Any]


def device_prefix() -> str:
    return f"{DEVICE_PREFIX}/{THING}/"


def trust_policy() -> Policy:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": CREDENTIALS_SERVICE}, "Action": "sts:AssumeRole"}],
    }


def check_zone_access(edge: EdgeConfig, lake_zones: list[str]) -> None:
    for zone in edge.zone_access:
        if zone not in lake_zones:
            raise ConfigError(f"plinth:edge.zoneAccess.{zone}: not a lakehouse zone of this stack "
                              f"(zones: {', '.join(lake_zones)})")


def access_sets(edge: EdgeConfig) -> dict[tuple[str, ...], list[int]]:
    """Zones a device reaches (sorted) -> the indices of the devices that reach exactly those."""
    sets: dict[tuple[str, ...], list[int]] = {}
    for i, device in enumerate(edge.devices):
        zones = edge.zone_access.keys() if device.zones is None else device.zones
        for j, zone in enumerate(device.zones or []):
            if zone not in edge.zone_access:
                raise ConfigError(f"plinth:edge.devices[{i}].zones[{j}]: {zone!r} is not in edge.zoneAccess "
                                  f"({', '.join(edge.zone_access) or 'empty'})")
        if device.zones is not None and len(set(device.zones)) != len(device.zones):
            raise ConfigError(f"plinth:edge.devices[{i}].zones: a zone is listed twice")
        sets.setdefault(tuple(sorted(zones)), []).append(i)
    return sets


def role_alias_name(group_id: str, zones: tuple[str, ...]) -> str:
    """``<group>-lake-<zones>``; over 128 characters the zone list becomes a short hash."""
    tail = "-".join(zones) if zones else "none"
    name = f"{group_id}-lake-{tail}"
    if len(name) > 128:
        name = f"{group_id[:100]}-lake-{hashlib.sha256(tail.encode()).hexdigest()[:12]}"
    if not _ROLE_ALIAS.match(name):
        raise ConfigError(f"plinth:edge.group: {group_id!r} makes the role alias {name!r}: AWS allows only "
                          "letters, digits, '_', '=', ',', '@' and '-'")
    return name


def role_alias_arn(partition: str, region: str, account_id: str, alias: str) -> str:
    return f"arn:{partition}:iot:{region}:{account_id}:rolealias/{alias}"


def lake_access_policy(zone_access: Mapping[str, str], zones: tuple[str, ...], bucket_arns: Mapping[str, str],
                       key_arn: str, region: str) -> Policy:
    """The role's permissions for the devices of one access set (see the module docstring)."""
    statements: list[Policy] = []
    kms_actions: set[str] = set()
    encryption_contexts: list[str] = []
    prefix = device_prefix()
    for zone in zones:
        access, bucket = zone_access[zone], bucket_arns[zone]
        sid = re.sub(r"[^A-Za-z0-9]", "", zone.title())
        objects = f"{bucket}/{prefix}*"
        if access in ("write", "read-write"):
            statements.append({"Sid": f"Write{sid}", "Effect": "Allow",
                               "Action": ["s3:PutObject", "s3:AbortMultipartUpload"], "Resource": objects})
            # multipart uploads to SSE-KMS buckets need Decrypt as well as GenerateDataKey
            kms_actions |= {"kms:GenerateDataKey", "kms:Decrypt"}
        if access in ("read", "read-write"):
            statements.append({"Sid": f"Read{sid}", "Effect": "Allow", "Action": "s3:GetObject", "Resource": objects})
            statements.append({"Sid": f"List{sid}", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket,
                               "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}}})
            kms_actions.add("kms:Decrypt")
        # bucket keys (the lakehouse turns them on) make the bucket ARN the encryption context;
        # objects written without one carry their own ARN
        encryption_contexts += [bucket, objects]
    if kms_actions:
        statements.append({
            "Sid": "KmsOnlyThroughS3", "Effect": "Allow", "Action": sorted(kms_actions), "Resource": key_arn,
            "Condition": {
                "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": encryption_contexts},
            },
        })
    return {"Version": "2012-10-17", "Statement": statements}
