"""EFA network interfaces for a GPU launch template (pure: no resources are created here).

An EFA-capable instance gets one interface per network card it has EFA on. Layout, after AWS's
"Maximize network bandwidth on Amazon EC2 instances with multiple network cards" and its P5 section
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-acc-inst-types.html):

* network card 0, device index 0: the primary interface, type ``efa`` (EFA *with* ENA: it carries the
  node's IP traffic too; an ``efa-only`` interface can't be the primary one);
* every other network card i (1 … n-1), device index 1: type ``efa-only`` — RDMA only, no IP address,
  so a p5.48xlarge doesn't burn 32 subnet addresses per node.

The interface count comes from the hardware catalogue (``policies/data/instances.yaml``:
p5.48xlarge 32, p4d.24xlarge 4, g6e.xlarge 0), so the launch template, the CrossGuard policy and the
post-deploy validator all agree on one number.

Usage::

    from policies.catalogue import instance
    from components.efa import efa_network_interfaces
    nics = efa_network_interfaces(instance("p5.48xlarge"), [efa_sg.id])  # 32 LaunchTemplateNetworkInterfaceArgs
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from policies.catalogue import InstanceType
from policies.errors import ConfigError

InterfaceType = Literal["efa", "efa-only"]


@dataclass(frozen=True)
class EfaInterface:
    """One network interface of the launch template, as plain data (easy to table-test)."""

    network_card_index: int
    device_index: int
    interface_type: InterfaceType


def efa_interface_plan(instance: InstanceType) -> list[EfaInterface]:
    """The EFA interfaces an instance type should launch with; empty when it has no EFA."""
    count = instance.efa_interfaces
    if count <= 0:
        return []
    plan = [EfaInterface(network_card_index=0, device_index=0, interface_type="efa")]
    plan += [EfaInterface(network_card_index=i, device_index=1, interface_type="efa-only") for i in range(1, count)]
    return plan


def efa_network_interfaces(
    instance: InstanceType,
    security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
) -> list[aws.ec2.LaunchTemplateNetworkInterfaceArgs]:
    """Launch-template network interfaces for ``instance``. A launch template that declares network
    interfaces can't also take ``vpc_security_group_ids``, so every interface carries the groups (they
    must include the EFA group that allows all traffic to and from itself). No subnet is set: the EKS
    node group places the instances in its own subnet."""
    return [
        aws.ec2.LaunchTemplateNetworkInterfaceArgs(
            network_card_index=nic.network_card_index,
            device_index=nic.device_index,
            interface_type=nic.interface_type,
            security_groups=security_group_ids,
            delete_on_termination="true",  # pulumi-aws v7 types this flag as a string
        )
        for nic in efa_interface_plan(instance)
    ]


def efa_wanted(instance: InstanceType, requested: bool | None, distributed: bool, pool_name: str) -> bool:
    """Resolve a pool's ``efa`` setting: ``None`` means on when the hardware has EFA and the pool trains
    across nodes (the only case where EFA pays for its subnet and placement constraints). Asking for EFA
    on hardware without it is a config error rather than a launch failure half an hour into ``pulumi up``."""
    if requested is None:
        return instance.efa_interfaces > 0 and distributed
    if requested and instance.efa_interfaces == 0:
        raise ConfigError(
            f"plinth:gpuPools.{pool_name}.efa: instance type {instance.name} has no EFA interfaces "
            "(set efa: false or pick an EFA-capable type such as p5.48xlarge)"
        )
    return requested
