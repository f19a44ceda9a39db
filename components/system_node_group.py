"""The system node group: a small, untainted, on-demand managed node group for the cluster's own
add-ons (CoreDNS, the Cluster Autoscaler, the Pod Identity agent's peers, chart controllers).

Every GPU pool is tainted, so without this group CoreDNS stays Pending and the cluster has no DNS.
A managed node group rather than a Fargate profile: Fargate runs no DaemonSets (kube-proxy,
vpc-cni, the Pod Identity agent), EKS Pod Identity does not work on Fargate (the autoscaler needs
it), and CoreDNS on Fargate needs its deployment patched. The reference build does the same
(terraform-aws-eks-blueprints ``nvidia-gpu-efa``: a ``default`` m5.large group "for core addons
such as CoreDNS"). It spans every private subnet so CoreDNS keeps a replica when a zone fails.

Usage::

    system = SystemNodeGroup(f"{prefix}-system", SystemNodeGroupArgs(
        cluster_name=eks.cluster_name, subnet_ids=net.private_subnet_ids, nodes=cfg.cluster.system_nodes,
        tags=tags))
    # system.node_group: depend on it for anything that must run (CoreDNS add-on, autoscaler chart)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.node_template import metadata_options, node_role, root_volume
from stacks.config import SystemNodesConfig

ROLE_LABEL = "plinth.dev/role"
SYSTEM_ROLE = "system"
ROOT_GB = 50
# EKS refuses a node group whose AMI type and instance architecture differ (CreateNodegroup:
# InvalidParameterException), so the AMI follows the instance type: Graviton types carry a "g" in
# the attributes after the generation digit (m7g, c6gn, t4g, r8gd, im4gn; a1 is the first), the EC2
# instance type naming convention ("Amazon EC2 instance type naming conventions").
AMI_TYPES = {"x86_64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}
_GRAVITON = re.compile(r"^(a1|[a-z]+\d+[a-z-]*g[a-z-]*)\.")


def ami_type(instance_type: str) -> str:
    """The AL2023 standard AMI type for the system nodes' instance type."""
    return AMI_TYPES["arm64" if _GRAVITON.match(instance_type) else "x86_64"]


def system_labels() -> dict[str, str]:
    return {ROLE_LABEL: SYSTEM_ROLE, "plinth.dev/pillar": "compute"}


def system_node_selector() -> dict[str, str]:
    """Where cluster add-ons that plinth installs (the autoscaler) are pinned."""
    return {ROLE_LABEL: SYSTEM_ROLE}


@dataclass
class SystemNodeGroupArgs:
    cluster_name: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    nodes: SystemNodesConfig = field(default_factory=SystemNodesConfig)
    tags: dict[str, str] = field(default_factory=dict)
    partition: str = "aws"


class SystemNodeGroup(pulumi.ComponentResource):
    node_group_name: pulumi.Output[str]
    node_group: aws.eks.NodeGroup

    def __init__(self, name: str, args: SystemNodeGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("plinth:compute:SystemNodeGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = args.nodes
        tags = {**args.tags, "plinth:node-role": SYSTEM_ROLE}
        role, attachments = node_role(name, self, tags, args.partition)
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt", description="plinth system nodes (cluster add-ons)",
            block_device_mappings=root_volume(ROOT_GB), metadata_options=metadata_options(),
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={**tags, "Name": name})
                                for kind in ("instance", "volume")],
            tags=tags, opts=child)
        self.node_group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            node_role_arn=role.arn,
            subnet_ids=args.subnet_ids,
            ami_type=ami_type(cfg.instance_type),
            instance_types=[cfg.instance_type],
            capacity_type="ON_DEMAND",  # add-ons must not vanish with a spot reclaim
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=cfg.min_size, desired_size=cfg.min_size, max_size=cfg.max_size),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str)),
            labels=system_labels(),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments, ignore_changes=["scalingConfig.desiredSize"]),
        )
        self.node_group_name = self.node_group.node_group_name
        self.register_outputs({"node_group_name": self.node_group_name})
