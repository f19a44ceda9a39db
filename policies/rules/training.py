"""Distributed-training pools: EFA interfaces, a cluster placement group, enough bandwidth.

A pool trains across nodes when its node group carries ``plinth.dev/profile=<trainingProfile>``
(default ``distributed_training``). All-reduce then crosses the network every step: the seed's table
asks for 100 Gbps+ and <1 ms between nodes, which on AWS means EFA (one interface per EFA network card,
per the catalogue) and instances packed in one ``cluster`` placement group.

EFA and placement live on the node group's launch template, so those two are STACK policies joining
node group -> launch template (``launchTemplate.id``) -> placement group (``placement.groupName``);
bandwidth only needs the node group's instance types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.catalogue import instance
from policies.policy_config import PolicyConfig
from policies.rules._base import config_of, resource_policy, stack_policy
from policies.rules._graph import of_type, referenced
from policies.rules._props import UNKNOWN, as_list, get, plain, require_known
from policies.rules.eks import NODE_GROUP, PROFILE_LABEL, instance_types, labels

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
PLACEMENT_GROUP = "aws:ec2/placementGroup:PlacementGroup"
EFA_TYPES = ("efa", "efa-only")


def is_training_pool(props: dict[str, Any], cfg: PolicyConfig) -> bool:
    return labels(props).get(PROFILE_LABEL) == cfg.training_profile


def training_pools(resources: Sequence[PolicyResource], cfg: PolicyConfig) -> list[PolicyResource]:
    return [ng for ng in of_type(resources, NODE_GROUP) if is_training_pool(plain(ng.props), cfg)]


def launch_template_of(ng: PolicyResource, resources: Sequence[PolicyResource]) -> PolicyResource | None:
    lts = of_type(resources, LAUNCH_TEMPLATE)
    return referenced(ng, "launchTemplate", lts, "id") or referenced(ng, "launchTemplate", lts, "name")


def pool_types(ng: PolicyResource, lt: PolicyResource | None) -> list[str]:
    types = instance_types(plain(ng.props))
    if not types and lt is not None:  # the instance type may be set on the launch template instead
        t = get(plain(lt.props), "instanceType")
        types = [t] if isinstance(t, str) else []
    return types


def efa_problem(ng: PolicyResource, lt: PolicyResource | None) -> str | None:
    if lt is None:
        return "has no launch template in this stack, so no EFA interfaces"
    nics = get(plain(lt.props), "networkInterfaces", default=[])
    require_known(nics, lt.name, "networkInterfaces")
    kinds = [get(n, "interfaceType") for n in as_list(nics)]
    if UNKNOWN in kinds:
        require_known(UNKNOWN, lt.name, "networkInterfaces", "interfaceType")
    efa = sum(1 for k in kinds if k in EFA_TYPES)
    expected = max((row.efa_interfaces for t in pool_types(ng, lt) if (row := instance(t)) is not None), default=0)
    if efa == 0:
        return f"launch template {lt.name} declares no EFA interface (expected {expected or 'at least 1'})"
    if efa < expected:
        return f"launch template {lt.name} declares {efa} EFA interfaces of the {expected} the instance type has"
    return None


def _check_efa(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config_of(args)
    for ng in training_pools(args.resources, cfg):
        problem = efa_problem(ng, launch_template_of(ng, args.resources))
        if problem:
            report(f"training pool {ng.name}: {problem}", ng.urn)


def placement_problem(lt: PolicyResource | None, resources: Sequence[PolicyResource]) -> str | None:
    if lt is None:
        return "has no launch template in this stack, so no placement group"
    group = get(plain(lt.props), "placement", "groupName")
    pg = referenced(lt, "placement", of_type(resources, PLACEMENT_GROUP))
    if pg is None:
        if group is None:
            return f"launch template {lt.name} sets no placement group"
        require_known(group, lt.name, "placement", "groupName")
        return None  # an existing group outside this stack: its strategy can't be checked here
    strategy = require_known(get(plain(pg.props), "strategy"), pg.name, "strategy")
    if strategy != "cluster":
        return f"placement group {pg.name} has strategy {strategy!r}, not 'cluster'"
    return None


def _check_placement(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config_of(args)
    for ng in training_pools(args.resources, cfg):
        problem = placement_problem(launch_template_of(ng, args.resources), args.resources)
        if problem:
            report(f"training pool {ng.name}: {problem}", ng.urn)


def _check_bandwidth(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NODE_GROUP:
        return
    props = plain(args.props)
    cfg = config_of(args)
    if not is_training_pool(props, cfg):
        return
    floor = cfg.min_training_bandwidth_gbps
    for t in instance_types(props):
        row = instance(t)
        if row is None:
            report(f"training pool {args.name}: bandwidth of {t} is unknown (not in the catalogue); needs >= {floor:g} Gbps", None)
        elif row.network_gbps < floor:
            report(f"training pool {args.name}: {t} has {row.network_gbps:g} Gbps; distributed training needs >= {floor:g} Gbps", None)


POLICIES = [
    stack_policy("training-pool-efa", "Distributed-training pools should launch with every EFA interface their instance type has.",
                 _check_efa, "advisory", config=("trainingProfile",)),
    stack_policy("training-pool-placement-group", "Distributed-training pools should launch into a 'cluster' placement group.",
                 _check_placement, "advisory", config=("trainingProfile",)),
    resource_policy("training-pool-bandwidth", "Distributed-training pools should use instance types with enough network bandwidth.",
                    _check_bandwidth, "advisory", config=("minTrainingBandwidthGbps", "trainingProfile")),
]
