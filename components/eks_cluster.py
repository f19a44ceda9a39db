"""EKS control plane with API-mode access entries and a Kubernetes provider for the other components.

Usage (from a strategy such as ``stacks/cloud_first.py``)::

    from components.eks_cluster import EksCluster, EksClusterArgs

    eks = EksCluster(f"{cfg.prefix}-eks", EksClusterArgs(
        cluster=cfg.cluster, subnet_ids=net.private_subnet_ids, region=cfg.region, tags=cfg.resource_tags()))
    # eks.cluster_name, eks.endpoint, eks.kubeconfig (secret), eks.cluster_security_group_id,
    # eks.k8s_provider: pass it to KubernetesGpuEnablement / any pulumi_kubernetes resource.

Design notes: authentication is access entries only (``API``; no aws-auth ConfigMap to drift); the
endpoint is private unless the stack config opens it; the kubeconfig authenticates with
``aws eks get-token`` so no long-lived token is ever stored in state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from stacks.config import ClusterConfig

# Managed policy ARNs live in the "aws" partition; GovCloud/China users would override `partition`.
CLUSTER_POLICY = "AmazonEKSClusterPolicy"
ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"
CONTROL_PLANE_LOG_TYPES = ["api", "audit", "authenticator"]


def managed_policy_arn(policy: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::aws:policy/{policy}"


def assume_role_policy(service: str) -> str:
    """Trust policy letting an AWS service (``eks.amazonaws.com``, ``ec2.amazonaws.com``) assume a role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    # TagSession: EKS tags its sessions (needed for EKS Pod Identity / cluster role).
                    "Action": ["sts:AssumeRole", "sts:TagSession"] if service.startswith("eks") else "sts:AssumeRole",
                }
            ],
        }
    )


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
        encryption = (
            aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.secrets_kms_key_arn),
            )
            if args.secrets_kms_key_arn is not None
            else None
        )
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
            # The cluster role must hold its policy before EKS uses it, and keep it until the cluster is gone.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

        provider_deps: list[pulumi.Resource] = [cluster]
        if cfg.admin_role_arn:
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
