"""EKS control plane with API-mode access entries and a Kubernetes provider for the other components.

Usage (from a strategy such as ``stacks/cloud_first.py``)::

    from components.eks_cluster import EksCluster, EksClusterArgs

    eks = EksCluster(f"{cfg.prefix}-eks", EksClusterArgs(
        cluster=cfg.cluster, subnet_ids=net.private_subnet_ids, region=cfg.region, tags=cfg.resource_tags()))
    # eks.cluster_name, eks.endpoint, eks.kubeconfig (secret), eks.cluster_security_group_id,
    # eks.k8s_provider: pass it to KubernetesGpuEnablement / any pulumi_kubernetes resource.

Design notes: authentication is access entries only (``API``; no aws-auth ConfigMap to drift). The
deploying principal is admin through EKS's bootstrap cluster-creator entry; ``adminRoleArn`` adds a
second admin unless it *is* the deployer (compared through ``sts get-caller-identity``, an assumed-role
session mapped to its role), which would be a duplicate entry (409). The endpoint is public only to
``publicAccessCidrs`` or private with ``deployFromVpc`` (the config refuses anything the deploy could
not reach). Secrets are envelope-encrypted with ``secrets_kms_key_arn`` when given. The kubeconfig
authenticates with ``aws eks get-token`` so no long-lived token is ever stored in state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.node_template import assume_role_policy, managed_policy_arn
from components.onprem_access import OnPremApiAccess, OnPremApiAccessArgs
from stacks.config import ClusterConfig

# Managed policy ARNs live in the "aws" partition; GovCloud/China users would override `partition`.
CLUSTER_POLICY = "AmazonEKSClusterPolicy"
ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"
CONTROL_PLANE_LOG_TYPES = ["api", "audit", "authenticator"]


def caller_role_arn(caller_arn: str) -> str:
    """The IAM principal behind ``sts get-caller-identity``: an assumed-role session
    (``arn:aws:sts::123:assumed-role/Deploy/ci-42``) maps to its role (``arn:aws:iam::123:role/Deploy``);
    a user or role ARN is itself. EKS records the cluster creator's admin entry under that role ARN."""
    parts = caller_arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
    return caller_arn


def same_principal(admin_arn: str, caller_arn: str) -> bool:
    """Would an access entry for ``admin_arn`` duplicate the creator's bootstrap entry (EKS answers
    409 ResourceInUseException)? A role's path is not in its session ARN, so roles compare by account
    and name."""
    def key(arn: str) -> tuple[str, str, str]:
        parts = arn.split(":", 5)
        if len(parts) < 6:
            return (arn, "", "")
        kind, _, rest = parts[5].partition("/")
        return (parts[4], kind, rest.rsplit("/", 1)[-1])
    return key(admin_arn) == key(caller_role_arn(caller_arn))


def secrets_key_policy(key_arn: str) -> str:
    """What the cluster role needs on the KMS key that envelope-encrypts Secrets (the terraform-aws-eks
    module grants the same four actions; AmazonEKSClusterPolicy carries no KMS permission)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
            "Resource": key_arn,
        }],
    })


def render_kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str | None = None) -> dict[str, Any]:
    """A kubeconfig for an EKS cluster whose user runs ``aws eks get-token`` (client.authentication v1beta1).
    Pure, so it is tested without any cloud; the component serialises it as JSON (valid YAML)."""
    args = ["eks", "get-token", "--cluster-name", cluster_name, "--output", "json"]
    if region:
        args += ["--region", region]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [
            {
                "name": cluster_name,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": args,
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
    }


@dataclass
class EksClusterArgs:
    cluster: ClusterConfig
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]  # private subnets, at least two AZs
    region: str | None = None  # for `aws eks get-token --region`; None: the CLI's default region
    tags: dict[str, str] = field(default_factory=dict)
    security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None  # extra control-plane SGs
    secrets_kms_key_arn: pulumi.Input[str] | None = None  # envelope-encrypt Kubernetes secrets
    # Networks outside the VPC (on-prem, over the VPN) that reach the private endpoint: TCP 443 on the
    # cluster security group, in place before the Kubernetes provider (and every object) is used.
    api_client_cidrs: list[str] = field(default_factory=list)
    partition: str = "aws"


class EksCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    k8s_provider: k8s.Provider

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("plinth:compute:EksCluster", name, None, opts)
        cfg = args.cluster
        child = pulumi.ResourceOptions(parent=self)

        role = aws.iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=assume_role_policy("eks.amazonaws.com"),
            tags=args.tags,
            opts=child,
        )
        policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=role.name,
            policy_arn=managed_policy_arn(CLUSTER_POLICY, args.partition),
            opts=child,
        )

        public_cidrs = cfg.public_access_cidrs if cfg.endpoint_public_access and cfg.public_access_cidrs else None
        encryption = None
        cluster_deps: list[pulumi.Resource] = [policy]
        if args.secrets_kms_key_arn is not None:
            encryption = aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.secrets_kms_key_arn),
            )
            cluster_deps.append(aws.iam.RolePolicy(
                f"{name}-secrets-key", role=role.id,
                policy=pulumi.Output.from_input(args.secrets_kms_key_arn).apply(secrets_key_policy), opts=child))
        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            role_arn=role.arn,
            version=cfg.version,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=cfg.endpoint_public_access,
                public_access_cidrs=public_cidrs,
                security_group_ids=args.security_group_ids,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # Whoever runs `pulumi up` stays admin: the provider below authenticates as them.
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            enabled_cluster_log_types=CONTROL_PLANE_LOG_TYPES,
            encryption_config=encryption,
            tags=args.tags,
            # The cluster role must hold its policies before EKS uses it, and keep them until the cluster is gone.
            opts=pulumi.ResourceOptions(parent=self, depends_on=cluster_deps),
        )

        provider_deps: list[pulumi.Resource] = [cluster]
        # The deploying principal is admin through the bootstrap entry (the provider below needs that
        # from the first second, no race with a separate entry); a second entry for it would be a 409.
        # Asked only when there is something to compare: a blocking invoke waits for the program's queue.
        caller = aws.get_caller_identity(opts=pulumi.InvokeOptions(parent=self)).arn if cfg.admin_role_arn else ""
        if cfg.admin_role_arn and same_principal(cfg.admin_role_arn, caller):
            pulumi.log.info(f"plinth:cluster.adminRoleArn is the deploying principal ({caller_role_arn(caller)}): "
                            "it is already cluster admin as the cluster's creator; no second access entry", self)
        elif cfg.admin_role_arn:
            entry = aws.eks.AccessEntry(
                f"{name}-admin",
                cluster_name=cluster.name,
                principal_arn=cfg.admin_role_arn,
                type="STANDARD",
                tags=args.tags,
                opts=child,
            )
            assoc = aws.eks.AccessPolicyAssociation(
                f"{name}-admin-policy",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=f"arn:{args.partition}:eks::aws:cluster-access-policy/{ADMIN_ACCESS_POLICY}",
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child,
            )
            provider_deps.append(assoc)

        if args.api_client_cidrs:
            if args.region is None:
                raise ValueError("EksClusterArgs.api_client_cidrs needs region: the rules are made in the cluster's region")
            provider_deps.append(OnPremApiAccess(f"{name}-api-clients", OnPremApiAccessArgs(
                security_group_id=cluster.vpc_config.cluster_security_group_id, cidrs=args.api_client_cidrs,
                region=args.region, tags=args.tags), opts=child))

        region = args.region
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
                lambda v: json.dumps(render_kubeconfig(v[0], v[1], v[2], region))
            )
        )
        self.k8s_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=provider_deps),
        )
        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint
        self.cluster_security_group_id = cluster.vpc_config.cluster_security_group_id
        self.cluster = cluster
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "kubeconfig": self.kubeconfig,
                "cluster_security_group_id": self.cluster_security_group_id,
            }
        )
