"""A GPU (or Neuron) EKS managed node group: IAM role, launch template (EFA, encrypted gp3 root, IMDSv2
with hop limit 1, local NVMe for containerd/kubelet, capacity reservation or Capacity Block), cluster
placement group, node group (accelerated AL2023 AMI, taint, labels, scaling) and the Auto Scaling
group tags Cluster Autoscaler needs to scale the pool up from 0.

Usage (from ``stacks/cloud_first.py``)::

    from components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs

    GpuNodePool(f"{cfg.prefix}-{pool.name}", GpuNodePoolArgs(
        cluster_name=eks.cluster_name,
        subnet_ids=net.private_subnet_ids, availability_zones=net.availability_zones,  # same order
        security_group_ids=[net.efa_security_group_id],
        cluster_security_group_id=eks.cluster_security_group_id,
        pool=pool, strategy=cfg.strategy, tags=cfg.resource_tags(), autoscaled=True,
    ), opts=pulumi.ResourceOptions(depends_on=[eks]))
    # outputs: node_group_name, launch_template_id, node_role_arn, placement_group_name,
    #          node_tag_selector ({"tag:plinth:pool": ..., "tag:eks:cluster-name": ...}), max_size, instance_type

Capacity: the pool launches in ``availabilityZone`` (its subnet there), not in whichever zone sorts
first; a ``capacityReservation`` targets an On-Demand Capacity Reservation (or its resource group);
``capacityType: CAPACITY_BLOCK`` adds the ``capacity-block`` market type the EKS user guide asks for
("Create a managed node group with Capacity Blocks for ML"; blueprints ``ml-capacity-block``).

SSH for the validator (``plinth:validation.sshAccess``): ``key_name`` and ``ssh_security_group_id``
from :class:`components.validator_access.ValidatorAccess` go into the launch template (the group beside
the cluster group, or on every EFA interface).

Pure decisions (labels, taint, subnet choice, placement, EFA, capacity) are plain functions below so
they are table-tested without Pulumi.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.cluster_autoscaler import TEMPLATE_PREFIX, node_template_tags
from components.efa import efa_network_interfaces, efa_wanted
from components.node_template import (
    metadata_options,
    node_config_user_data,
    node_role,
    root_volume,
    wants_local_storage,
)
from policies.catalogue import InstanceType, catalogue, instance
from policies.errors import ConfigError
from stacks.config import GpuPoolConfig

POOL_TAG = "plinth:pool"  # on every instance: the validators find a pool's nodes with this EC2 filter
NVIDIA_GPU = "nvidia.com/gpu"
NEURON_DEVICE = "aws.amazon.com/neuron"
EFA_DEVICE = "vpc.amazonaws.com/efa"


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
    return NEURON_DEVICE if itype.accelerator == "neuron" else NVIDIA_GPU


def node_labels(pool: GpuPoolConfig, strategy: str, itype: InstanceType, efa: bool = False) -> dict[str, str]:
    labels = {
        "plinth.dev/pillar": "compute",
        "plinth.dev/strategy": strategy,
        "plinth.dev/profile": pool.profile,
        "plinth.dev/pool": pool.name,
        "plinth.dev/accelerator": itype.accelerator,
        # Policy eks-spot-interruptible-only reads this: SPOT capacity is for work that checkpoints.
        "plinth.dev/interruptible": "true" if pool.interruptible else "false",
    }
    if itype.accelerator == "nvidia":
        # The NVIDIA device plugin chart's node affinity matches this on EKS (no NFD there), and
        # Cluster Autoscaler treats a node with this label as a GPU node still starting its plugin.
        labels["nvidia.com/gpu.present"] = "true"
        labels["k8s.amazonaws.com/accelerator"] = f"nvidia-{itype.gpu_model.lower()}"
    if efa:
        labels["vpc.amazonaws.com/efa.present"] = "true"  # the EFA device plugin's nodeSelector
    return labels


def extended_resources(itype: InstanceType, efa: bool) -> dict[str, int]:
    """What the device plugins will advertise on a node of this pool (for scale-from-0 templates)."""
    resources = {NEURON_DEVICE if itype.accelerator == "neuron" else NVIDIA_GPU: itype.gpus}
    if efa:
        resources[EFA_DEVICE] = itype.efa_interfaces
    return resources


def wants_placement_group(pool: GpuPoolConfig) -> bool:
    """``placementGroup`` None: on for distributed training, where all-reduce wants one spine."""
    return pool.distributed if pool.placement_group is None else pool.placement_group


def pool_zone_index(zones: Sequence[str], pool: GpuPoolConfig) -> int | None:
    """Which of the network's zones (``zones[i]`` holds the i-th private subnet) the pool launches in;
    None: all of them. A single-zone pool (placement group, reservation) must name its zone: the zone
    with capacity is the user's knowledge, and taking the first one is how p5 launches fail."""
    if pool.availability_zone is not None:
        if pool.availability_zone not in zones:
            raise ConfigError(f"plinth:gpuPools.{pool.name}.availabilityZone: {pool.availability_zone} is not one of "
                              f"the network's zones ({', '.join(zones) or 'none given'})")
        return list(zones).index(pool.availability_zone)
    if pool.single_zone:
        raise ConfigError(f"plinth:gpuPools.{pool.name}.availabilityZone: this pool runs in one zone (placement "
                          "group or reservation); name the zone that has its capacity")
    return None


def pool_subnets(subnet_ids: Sequence[str], zone_index: int | None) -> list[str]:
    ids = list(subnet_ids)
    if not ids:
        raise ConfigError("plinth:network: a GPU pool needs at least one private subnet")
    return ids if zone_index is None else [ids[zone_index]]


def capacity_reservation(pool: GpuPoolConfig) -> aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs | None:
    """Target the pool's reservation (or reservation group). With a target, EC2 wants the preference
    omitted (it is capacity-reservations-only): instances launch into the reservation, not beside it."""
    r = pool.capacity_reservation
    if r is None:
        return None
    return aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
        capacity_reservation_target=aws.ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs(
            capacity_reservation_id=r.id, capacity_reservation_resource_group_arn=r.resource_group_arn))


def market_options(pool: GpuPoolConfig) -> aws.ec2.LaunchTemplateInstanceMarketOptionsArgs | None:
    """Capacity Blocks launch with market type ``capacity-block``; SPOT is the node group's own
    capacityType (EKS sets the market itself), so the template says nothing for it."""
    if pool.capacity_type == "CAPACITY_BLOCK":
        return aws.ec2.LaunchTemplateInstanceMarketOptionsArgs(market_type="capacity-block")
    return None


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
    # The network's zones in subnet order (AiNetwork.availability_zones): where availabilityZone points.
    availability_zones: Sequence[str] = ()
    # Tag the Auto Scaling group for Cluster Autoscaler's scale-from-0 (labels, taint, devices).
    autoscaled: bool = False
    partition: str = "aws"
    # SSH for the validator (components/validator_access.py): the key pair the nodes accept and the
    # group that admits SSH from its named source. None: no key, no SSH (the default).
    key_name: pulumi.Input[str] | None = None
    ssh_security_group_id: pulumi.Input[str] | None = None


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
        zone_index = pool_zone_index(args.availability_zones, pool)
        if args.ssh_security_group_id is not None and args.cluster_security_group_id is None:
            raise ValueError(f"{name}: ssh_security_group_id needs cluster_security_group_id (nodes must still reach the control plane)")
        super().__init__("plinth:compute:GpuNodePool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, POOL_TAG: pool.name}
        subnets = pulumi.Output.from_input(args.subnet_ids).apply(lambda ids: pool_subnets(ids, zone_index))

        role, attachments = node_role(name, self, tags, args.partition)

        placement_name: pulumi.Input[str] | None = None
        if wants_placement_group(pool):
            if args.placement_group_name is not None:
                placement_name = args.placement_group_name
            else:
                pg = aws.ec2.PlacementGroup(f"{name}-pg", strategy="cluster", tags=tags, opts=child)
                placement_name = pg.name

        network_interfaces = None
        template_groups = None
        if use_efa:
            groups = pulumi.Output.all(args.security_group_ids, args.cluster_security_group_id, args.ssh_security_group_id).apply(
                lambda v: [*v[0], *(g for g in v[1:] if g)]
            )
            network_interfaces = efa_network_interfaces(itype, groups)
        elif args.ssh_security_group_id is not None:
            # Groups in the launch template replace the cluster security group EKS would otherwise
            # add ("Customize managed nodes with launch templates"): name it beside the SSH group.
            template_groups = [args.cluster_security_group_id, args.ssh_security_group_id]

        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"plinth GPU pool {pool.name} ({itype.name})",
            block_device_mappings=root_volume(pool.root_volume_gb),
            metadata_options=metadata_options(),
            user_data=node_config_user_data(wants_local_storage(itype)),
            network_interfaces=network_interfaces,
            vpc_security_group_ids=template_groups,
            key_name=args.key_name,
            placement=aws.ec2.LaunchTemplatePlacementArgs(group_name=placement_name) if placement_name else None,
            capacity_reservation_specification=capacity_reservation(pool),
            instance_market_options=market_options(pool),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={**tags, "Name": f"{name}"})
                for kind in ("instance", "volume", "network-interface")
            ],
            tags=tags,
            opts=child,
        )

        taint_key = accelerator_taint_key(itype)
        labels = node_labels(pool, args.strategy, itype, use_efa)
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
            taints=[aws.eks.NodeGroupTaintArgs(key=taint_key, value="true", effect="NO_SCHEDULE")],
            labels=labels,
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

        if args.autoscaled:
            asg = node_group.resources.apply(first_autoscaling_group)
            template_tags = node_template_tags(labels, [(taint_key, "true", "NO_SCHEDULE")],
                                               extended_resources(itype, use_efa))
            for key, value in sorted(template_tags.items()):
                short = key.removeprefix(f"{TEMPLATE_PREFIX}/")  # label/plinth.dev/pool, taint/nvidia.com/gpu …
                aws.autoscaling.Tag(f"{name}-ca-{short}", autoscaling_group_name=asg, opts=child,
                                    tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False))

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
        self.accelerator = itype.accelerator
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


def first_autoscaling_group(resources: Sequence[aws.eks.outputs.NodeGroupResource] | None) -> str:
    """The Auto Scaling group EKS made for the node group (one per managed node group)."""
    for res in resources or []:
        for group in res.autoscaling_groups or []:
            if group.name:
                return group.name
    raise ValueError("the node group reports no Auto Scaling group")
