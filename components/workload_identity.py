"""Workload identities for the lakehouse: EKS Pod Identity roles that let named service accounts read
(and, per zone, write) the lakehouse, and nothing else.

One role per ``plinth:lakehouse.access`` entry, trusted by ``pods.eks.amazonaws.com`` for that
``namespace/serviceAccount`` of this cluster only (Pod Identity session tags,
:func:`components.node_template.pod_identity_trust_policy`) and bound to it by an
``aws.eks.PodIdentityAssociation``. Its policy (:func:`access_policy`):

- S3: list and get on the read zones' buckets; put, delete and multipart on the write zones;
- KMS: the lakehouse key, ``kms:Decrypt`` (plus ``kms:GenerateDataKey`` to write), only when S3 calls
  KMS on the role's behalf (``kms:ViaService = s3.<region>.amazonaws.com``): the key can't be used
  directly or by another service. The key policy delegates to IAM (its account-root statement,
  the KMS default), so this identity policy is what grants the use;
- Glue: the zones' catalog databases and tables (read; table and partition writes on write zones),
  which Iceberg readers and writers go through.

Pods get credentials from the Pod Identity agent, never from the node role: the nodes' IMDS hop
limit is 1 (:mod:`components.node_template`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.node_template import pod_identity_role_trust
from stacks.config import LakehouseAccess

S3_READ = ["s3:GetObject", "s3:GetObjectVersion"]
S3_WRITE = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
GLUE_READ = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"]
GLUE_WRITE = ["glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable", "glue:BatchCreatePartition",
              "glue:CreatePartition", "glue:UpdatePartition", "glue:BatchDeletePartition", "glue:DeletePartition"]


def access_policy(entry: LakehouseAccess, bucket_arns: dict[str, str], databases: dict[str, str], key_arn: str,
                  region: str, account_id: str, partition: str = "aws") -> dict[str, Any]:
    """The identity policy for one access entry (zones resolved to bucket ARNs and Glue databases)."""
    zones = list(dict.fromkeys([*entry.read, *entry.write]))  # write implies read
    written = [z for z in zones if z in entry.write]

    def glue(zone_list: list[str]) -> list[str]:
        arns = [f"arn:{partition}:glue:{region}:{account_id}:catalog"]
        for z in zone_list:
            arns += [f"arn:{partition}:glue:{region}:{account_id}:database/{databases[z]}",
                     f"arn:{partition}:glue:{region}:{account_id}:table/{databases[z]}/*"]
        return arns

    statements: list[dict[str, Any]] = [
        {"Sid": "ListZones", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
         "Resource": [bucket_arns[z] for z in zones]},
        {"Sid": "ReadZones", "Effect": "Allow", "Action": S3_READ, "Resource": [f"{bucket_arns[z]}/*" for z in zones]},
        {"Sid": "DecryptViaS3", "Effect": "Allow",
         "Action": ["kms:Decrypt", *(["kms:GenerateDataKey"] if written else [])], "Resource": key_arn,
         "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}},
        {"Sid": "ReadCatalog", "Effect": "Allow", "Action": GLUE_READ, "Resource": glue(zones)},
    ]
    if written:
        statements[1:1] = [
            {"Sid": "WriteZones", "Effect": "Allow", "Action": S3_WRITE, "Resource": [f"{bucket_arns[z]}/*" for z in written]},
            {"Sid": "ListUploads", "Effect": "Allow", "Action": "s3:ListBucketMultipartUploads",
             "Resource": [bucket_arns[z] for z in written]},
        ]
        statements.append({"Sid": "WriteCatalog", "Effect": "Allow", "Action": GLUE_WRITE, "Resource": glue(written)})
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass
class LakehouseAccessArgs:
    cluster_name: pulumi.Input[str]
    access: list[LakehouseAccess]
    bucket_arns: pulumi.Input[dict[str, str]]
    glue_database_names: pulumi.Input[dict[str, str]]
    kms_key_arn: pulumi.Input[str]
    region: str
    tags: dict[str, str] = field(default_factory=dict)
    depends_on: list[pulumi.Resource] = field(default_factory=list)  # the Pod Identity agent add-on


class LakehouseWorkloadAccess(pulumi.ComponentResource):
    role_arns: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: LakehouseAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("plinth:data:LakehouseAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        caller = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        partition = caller.arn.apply(lambda arn: arn.split(":")[1] if arn.count(":") > 1 else "aws")
        roles: dict[str, pulumi.Output[str]] = {}
        for entry in args.access:
            who = f"{entry.namespace}-{entry.service_account}"
            role = aws.iam.Role(f"{name}-{who}",
                                assume_role_policy=pod_identity_role_trust(caller.account_id, args.cluster_name,
                                                                           entry.namespace, entry.service_account),
                                description=f"lakehouse access for {entry.namespace}/{entry.service_account}",
                                tags=args.tags, opts=child)
            policy = aws.iam.RolePolicy(
                f"{name}-{who}", role=role.id, opts=child,
                policy=pulumi.Output.all(args.bucket_arns, args.glue_database_names, args.kms_key_arn,
                                         caller.account_id, partition).apply(
                    lambda v, e=entry: json.dumps(access_policy(e, v[0], v[1], v[2], args.region, v[3], v[4]))))
            aws.eks.PodIdentityAssociation(
                f"{name}-{who}", cluster_name=args.cluster_name, namespace=entry.namespace,
                service_account=entry.service_account, role_arn=role.arn, tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, *args.depends_on]))
            roles[f"{entry.namespace}/{entry.service_account}"] = role.arn
        self.role_arns = pulumi.Output.all(**roles) if roles else pulumi.Output.from_input({})
        self.register_outputs({"role_arns": self.role_arns})
