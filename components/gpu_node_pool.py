"""A GPU (or Neuron) EKS managed node group: IAM role, launch template (EFA, encrypted gp3 root, IMDSv2,
cluster placement group), node group (accelerated AL2023 AMI, taint, labels, scaling).

Usage (from ``stacks/cloud_first.py`` or ``stacks/hybrid.py``)::

    from components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs

    for pool in cfg.gpu_pools:
        GpuNodePool(f"{cfg.prefix}-{pool.name}", GpuNodePoolArgs(
            cluster_name=eks.cluster_name,
            subnet_ids=net.private_subnet_ids,
            security_group_ids=[net.efa_security_group_id],
            cluster_security_group_id=eks.cluster_security_group_id,  # optional, see below
            pool=pool, strategy=cfg.strategy, tags=cfg.resource_tags(),
            placement_group_name=None,   # None: a distributed pool makes its own "cluster" placement group
        ), opts=pulumi.ResourceOptions(depends_on=[eks]))
    # outputs: node_group_name, launch_template_id, node_role_arn, placement_group_name,
    #          node_tag_selector ({"tag:plinth:pool": ..., "tag:eks:cluster-name": ...}), max_size, instance_type

Pure decisions (labels, taint, subnet choice, placement, EFA on/off) are plain functions below so they are
table-tested without Pulumi.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.efa import efa_network_interfaces, efa_wanted
from components.eks_cluster import assume_role_policy, managed_policy_arn
from policies.catalogue import InstanceType, catalogue, instance
from policies.errors import ConfigError
from stacks.config import GpuPoolConfig

NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
    "AmazonSSMManagedInstanceCore",  # shell access without SSH keys or open ports
)
POOL_TAG = "plinth:pool"  # on every instance: the validators find a pool's nodes with this EC2 filter
ROOT_DEVICE = "/dev/xvda"  # AL2023 EKS AMIs boot from xvda


def resolve_instance(pool: GpuPoolConfig) -> InstanceType:
    found = instance(pool.instance_type)
    if found is None:
        known = ", ".join(sorted(catalogue().instances))
        raise ConfigError(
            f"plinth:gpuPools.{pool.name}.instanceType: unknown instance type {pool.instance_type!r} (known: {known})"
        )
    return found


def accelerator_taint_key(itype: InstanceType) -> str:
    """Keep general pods off expensive accelerators; the device plugins tolerate these keys."""
    return "aws.amazon.com/neuron" if itype.accelerator == "neuron" else "nvidia.com/gpu"


def node_labels(pool: GpuPoolConfig, strategy: str, itype: InstanceType) -> dict[str, str]:
    return {
        "plinth.dev/pillar": "compute",
        "plinth.dev/strategy": strategy,
        "plinth.dev/profile": pool.profile,
        "plinth.dev/pool": pool.name,
        # The NVIDIA device plugin's node affinity matches this on EKS (no NFD/GFD labels there).
        "plinth.dev/accelerator": itype.accelerator,
        # Policy eks-spot-interruptible-only reads this: SPOT capacity is for work that checkpoints.
        "plinth.dev/interruptible": "true" if pool.interruptible else "false",
    }


def wants_placement_group(pool: GpuPoolConfig) -> bool:
    """``placementGroup`` None: on for distributed training, where all-reduce wants one spine."""
    return pool.distributed if pool.placement_group is None else pool.placement_group


def pool_subnets(subnet_ids: Sequence[str], single_az: bool) -> list[str]:
    """A cluster placement group lives in one AZ, and cross-AZ all-reduce pays latency and transfer
    charges, so a distributed pool gets exactly one subnet (the first, for a stable choice)."""
    ids = list(subnet_ids)
    if not ids:
        raise ConfigError("plinth:network: a GPU pool needs at least one private subnet")
    return ids[:1] if single_az else ids


@dataclass
class GpuNodePoolArgs:
    cluster_name: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    # The EFA group (all traffic to/from itself). Used on the EFA interfaces; a pool without EFA keeps
    # EKS's default (the cluster security group) and ignores it.
    security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    pool: GpuPoolConfig
    strategy: str
    tags: dict[str, str] = field(default_factory=dict)
    placement_group_name: pulumi.Input[str] | None = None
    # With EFA the launch template declares the interfaces and their groups, and EKS then stops adding
    # the cluster security group by itself: pass it here so nodes can still reach the control plane.
    cluster_security_group_id: pulumi.Input[str] | None = None
    partition: str = "aws"


class GpuNodePool(pulumi.ComponentResource):
    node_group_name: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    placement_group_name: pulumi.Output[str | None]
    node_tag_selector: pulumi.Output[dict[str, str]]
    max_size: pulumi.Output[int]
    instance_type: pulumi.Output[str]

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        pool = args.pool
        # Judge the config before registering anything: bad input leaves no half-built component.
        itype = resolve_instance(pool)
        use_efa = efa_wanted(itype, pool.efa, pool.distributed, pool.name)
        super().__init__("plinth:compute:GpuNodePool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, POOL_TAG: pool.name}

        role = aws.iam.Role(f"{name}-node-role", assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
                            tags=tags, opts=child)
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-{policy}", role=role.name,
                                         policy_arn=managed_policy_arn(policy, args.partition), opts=child)
            for policy in NODE_POLICIES
        ]

        placement_name: pulumi.Input[str] | None = None
        if wants_placement_group(pool):
            if args.placement_group_name is not None:
                placement_name = args.placement_group_name
            else:
                pg = aws.ec2.PlacementGroup(f"{name}-pg", strategy="cluster", tags=tags, opts=child)
                placement_name = pg.name

        network_interfaces = None
        if use_efa:
            groups = pulumi.Output.all(args.security_group_ids, args.cluster_security_group_id).apply(
                lambda v: [*v[0], *([v[1]] if v[1] else [])]
            )
            network_interfaces = efa_network_interfaces(itype, groups)

        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"plinth GPU pool {pool.name} ({itype.name})",
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=pool.root_volume_gb, volume_type="gp3", encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",  # IMDSv2 only
                http_put_response_hop_limit=2,  # pods (one hop further) still reach IMDS
            ),
            network_interfaces=network_interfaces,
            placement=aws.ec2.LaunchTemplatePlacementArgs(group_name=placement_name) if placement_name else None,
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={**tags, "Name": f"{name}"})
                for kind in ("instance", "volume", "network-interface")
            ],
            tags=tags,
            opts=child,
        )

        single_az = pool.distributed or placement_name is not None
        subnets = pulumi.Output.from_input(args.subnet_ids).apply(lambda ids: pool_subnets(ids, single_az))
        node_group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            node_role_arn=role.arn,
            subnet_ids=subnets,
            ami_type=itype.eks_ami_type,
            instance_types=[itype.name],
            capacity_type=pool.capacity_type,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_size, desired_size=pool.desired_size, max_size=pool.max_size
            ),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            taints=[aws.eks.NodeGroupTaintArgs(key=accelerator_taint_key(itype), value="true", effect="NO_SCHEDULE")],
            labels=node_labels(pool, args.strategy, itype),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                # The nodes must be able to join (policies attached) before EKS launches them, and a
                # cluster autoscaler owns desiredSize after creation: don't fight it on every `up`.
                depends_on=attachments,
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

        self.node_group_name = node_group.node_group_name
        self.launch_template_id = template.id
        self.node_role_arn = role.arn
        self.placement_group_name = pulumi.Output.from_input(placement_name)
        self.node_tag_selector = pulumi.Output.from_input(args.cluster_name).apply(
            lambda cluster: {f"tag:{POOL_TAG}": pool.name, "tag:eks:cluster-name": cluster}
        )
        self.max_size = pulumi.Output.from_input(pool.max_size)
        self.instance_type = pulumi.Output.from_input(itype.name)
        self.efa_interfaces = itype.efa_interfaces if use_efa else 0
        self.node_group = node_group
        self.register_outputs(
            {
                "node_group_name": self.node_group_name,
                "launch_template_id": self.launch_template_id,
                "node_role_arn": self.node_role_arn,
                "placement_group_name": self.placement_group_name,
                "node_tag_selector": self.node_tag_selector,
                "max_size": self.max_size,
                "instance_type": self.instance_type,
            }
        )
