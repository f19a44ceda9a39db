"""EKS: GPU managed node groups (AMI type, taint, scaling, SPOT, instance types), the API endpoint,
envelope encryption of Secrets and the subnets' zones.

Node group props as the engine sends them (``aws:eks/nodeGroup:NodeGroup``): ``amiType``,
``instanceTypes``, ``capacityType``, ``scalingConfig{minSize,desiredSize,maxSize}`` (floats),
``taints[{key,value,effect}]``, ``labels`` (plinth writes ``plinth.dev/profile``, ``plinth.dev/pool`` …),
``launchTemplate{id,version}``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.catalogue import instance
from policies.rules._base import config_of, resource_policy, stack_policy
from policies.rules._graph import of_type
from policies.rules._props import UNKNOWN, as_list, get, plain, require_known, truthy

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CLUSTER = "aws:eks/cluster:Cluster"
PROFILE_LABEL = "plinth.dev/profile"
INTERRUPTIBLE_LABEL = "plinth.dev/interruptible"
NEURON_TAINT_KEY = "aws.amazon.com/neuron"
# Accelerated families (p3…p6, g4…g6e, trn, inf, dl) for types the catalogue doesn't list.
_ACCELERATED = re.compile(r"^(p\d|g\d|trn\d|inf\d|dl\d)[a-z0-9-]*\.")
GPU_AMI_TYPES = {
    "AL2023_x86_64_NVIDIA", "AL2023_ARM_64_NVIDIA", "AL2023_x86_64_NEURON",
    "BOTTLEROCKET_x86_64_NVIDIA", "BOTTLEROCKET_ARM_64_NVIDIA",
}
_ACCEPTED_AMI = {
    "nvidia": {"AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"},
    "neuron": {"AL2023_x86_64_NEURON"},
}
OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
SUBNET = "aws:ec2/subnet:Subnet"


def instance_types(props: dict[str, Any]) -> list[str]:
    types = get(props, "instanceTypes", default=[])
    require_known(types, "instanceTypes")
    return [t for t in as_list(types) if isinstance(t, str)]


def is_accelerated(itype: str) -> bool:
    return instance(itype) is not None or bool(_ACCELERATED.match(itype))


def accelerator_of(itype: str) -> str | None:
    row = instance(itype)
    if row is not None:
        return row.accelerator
    if itype.startswith(("trn", "inf")):
        return "neuron"
    return "nvidia" if _ACCELERATED.match(itype) else None


def gpu_types(props: dict[str, Any]) -> list[str]:
    return [t for t in instance_types(props) if is_accelerated(t)]


def labels(props: dict[str, Any]) -> dict[str, Any]:
    value = get(props, "labels", default={})
    return value if isinstance(value, dict) else {}


def _node_group(args: ResourceValidationArgs) -> dict[str, Any] | None:
    return plain(args.props) if args.resource_type == NODE_GROUP else None


def _check_ami(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = _node_group(args)
    if props is None or not (types := gpu_types(props)):
        return
    ami = require_known(get(props, "amiType"), "amiType")
    for t in types:
        accel = accelerator_of(t) or "nvidia"
        row = instance(t)
        accepted = _ACCEPTED_AMI[accel] if row is not None else GPU_AMI_TYPES
        if ami not in accepted:
            want = row.eks_ami_type if row is not None else " or ".join(sorted(GPU_AMI_TYPES))
            report(f"node group {args.name}: {t} needs amiType {want} (drivers and runtime for {accel}); got {ami or 'none'}", None)
            return


def _check_taint(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = _node_group(args)
    if props is None or not (types := gpu_types(props)):
        return
    taints = require_known(get(props, "taints", default=[]), "taints")
    key = NEURON_TAINT_KEY if accelerator_of(types[0]) == "neuron" else config_of(args).gpu_taint_key
    if not any(get(t, "key") == key and get(t, "effect") in ("NO_SCHEDULE", "NO_EXECUTE") for t in as_list(taints)):
        report(f"node group {args.name}: accelerated nodes need the taint {key}=…:NO_SCHEDULE so other pods stay off them", None)


def scaling_problems(props: dict[str, Any], cap: int) -> list[str]:
    sc = require_known(get(props, "scalingConfig", default={}), "scalingConfig")
    lo, want, hi = (get(sc, k) for k in ("minSize", "desiredSize", "maxSize"))
    if UNKNOWN in (lo, want, hi):
        require_known(UNKNOWN, "scalingConfig")
    problems = []
    if None in (lo, want, hi):
        return ["scalingConfig needs minSize, desiredSize and maxSize"]
    if not lo <= want <= hi:
        problems.append(f"needs minSize <= desiredSize <= maxSize (got {lo:g} <= {want:g} <= {hi:g})")
    if hi > cap:
        problems.append(f"maxSize {hi:g} is above the cap of {cap} nodes per pool (policy config maxNodesPerPool)")
    if hi < 1:
        problems.append("maxSize must be at least 1")
    return problems


def _check_scaling(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = _node_group(args)
    if props is None:
        return
    for problem in scaling_problems(props, config_of(args).max_nodes_per_pool):
        report(f"node group {args.name}: {problem}", None)


def _check_spot(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = _node_group(args)
    if props is None:
        return
    capacity = require_known(get(props, "capacityType", default="ON_DEMAND"), "capacityType")
    if capacity != "SPOT":
        return
    if not truthy(labels(props).get(INTERRUPTIBLE_LABEL)):
        report(f"node group {args.name}: SPOT capacity but not labelled {INTERRUPTIBLE_LABEL}=true; spot nodes "
               "can be reclaimed with 2 minutes' notice, so only checkpointing (interruptible) work belongs there", None)


def _check_instance_types(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = _node_group(args)
    if props is None:
        return
    allowed = config_of(args).allowed_instance_types
    for t in instance_types(props):
        if allowed is not None and t not in allowed:
            report(f"node group {args.name}: instance type {t} is not allowed (allowedInstanceTypes: {', '.join(allowed)})", None)
        elif allowed is None and is_accelerated(t) and instance(t) is None:
            report(f"node group {args.name}: accelerated instance type {t} is not in plinth's catalogue, so its "
                   "hardware and price are unknown; add it to policies/data/instances.yaml or allow it explicitly", None)


def endpoint_problem(props: dict[str, Any]) -> str | None:
    vpc = require_known(get(props, "vpcConfig", default={}), "vpcConfig")
    public = get(vpc, "endpointPublicAccess")
    require_known(public, "vpcConfig", "endpointPublicAccess")
    if public is None:
        public = True  # the EKS API default
    if not truthy(public):
        return None
    cidrs = require_known(get(vpc, "publicAccessCidrs", default=[]), "vpcConfig", "publicAccessCidrs")
    open_to = sorted(set(as_list(cidrs)) & OPEN_CIDRS)
    if not as_list(cidrs):
        return "the API endpoint is public with no publicAccessCidrs (EKS then allows 0.0.0.0/0)"
    if open_to:
        return f"the API endpoint is public to {', '.join(open_to)}"
    return None


def _check_endpoint(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    problem = endpoint_problem(plain(args.props))
    if problem:
        report(f"EKS cluster {args.name}: {problem}; keep it private or list your CIDRs in publicAccessCidrs", None)


def secrets_encryption_problem(props: dict[str, Any]) -> str | None:
    """Why Kubernetes Secrets aren't envelope-encrypted with a customer KMS key, or None."""
    configs = get(props, "encryptionConfig")
    require_known(configs, "encryptionConfig")
    for config in as_list(configs):  # an object in pulumi-aws v7 (a list in older schemas)
        resources = require_known(get(config, "resources", default=[]), "encryptionConfig", "resources")
        if "secrets" in as_list(resources) and get(config, "provider", "keyArn") is not None:
            return None  # the key ARN may still be unknown in preview: that it is set is what counts
    return "no encryptionConfig with resources ['secrets'] and a KMS key (provider.keyArn)"


def _check_secrets_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    problem = secrets_encryption_problem(plain(args.props))
    if problem:
        report(f"EKS cluster {args.name}: {problem}; Secrets are then encrypted only with an AWS-owned key you "
               "can neither audit nor revoke. Set encryption_config with a customer-managed KMS key", None)


def cluster_subnets(cluster: PolicyResource, resources: Sequence[PolicyResource]) -> list[PolicyResource]:
    """The stack's subnets a cluster's ``vpcConfig.subnetIds`` come from (property dependencies; else
    known ids). Empty: they are subnets outside this stack."""
    subnets = of_type(resources, SUBNET)
    by_urn = {s.urn: s for s in subnets}
    found = [by_urn[d.urn] for d in cluster.property_dependencies.get("vpcConfig", []) if d.urn in by_urn]
    if found:
        return found
    ids = get(plain(cluster.props), "vpcConfig", "subnetIds", default=[])
    ids = set(as_list(ids)) if ids is not UNKNOWN else set()
    return [s for s in subnets if get(plain(s.props), "id") in ids]


def _check_subnet_zones(args: StackValidationArgs, report: ReportViolation) -> None:
    for cluster in of_type(args.resources, CLUSTER):
        subnets = cluster_subnets(cluster, args.resources)
        if not subnets:
            continue  # existing subnets: their zones aren't in this stack
        zones: set[str] = set()
        unpinned = []
        for s in subnets:
            props = plain(s.props)
            zone = require_known(get(props, "availabilityZone", default=get(props, "availabilityZoneId")), s.name,
                                 "availabilityZone")
            if zone is None:
                unpinned.append(s.name)  # AWS picks the zone when the subnet is created
            else:
                zones.add(zone)
        if len(zones) >= 2:
            continue
        if unpinned and len(subnets) >= 2:
            require_known(UNKNOWN, unpinned[0], "availabilityZone")
        where = ", ".join(sorted(zones)) or "one zone"
        report(f"EKS cluster {cluster.name}: its subnets ({', '.join(sorted(s.name for s in subnets))}) are all in "
               f"{where}; EKS refuses to create a cluster unless its subnets span at least two availability zones "
               "(give the network at least two zones)", cluster.urn)


POLICIES = [
    resource_policy("eks-gpu-ami-type", "GPU/Neuron node groups must use the accelerated AMI type for their instance type.",
                    _check_ami, "mandatory"),
    resource_policy("eks-gpu-taint", "GPU/Neuron node groups should carry the accelerator NoSchedule taint.",
                    _check_taint, "advisory", config=("gpuTaintKey",)),
    resource_policy("eks-node-group-scaling", "Node groups need minSize <= desiredSize <= maxSize, maxSize within the cap.",
                    _check_scaling, "advisory", config=("maxNodesPerPool",)),
    resource_policy("eks-spot-interruptible-only", "SPOT node groups must be labelled plinth.dev/interruptible=true.",
                    _check_spot, "advisory"),
    resource_policy("eks-allowed-instance-types", "Node groups should use allowed (default: catalogued) instance types.",
                    _check_instance_types, "advisory", config=("allowedInstanceTypes",)),
    resource_policy("eks-endpoint-not-public", "The EKS API endpoint must not be open to the whole internet.",
                    _check_endpoint, "mandatory"),
    resource_policy("eks-secrets-encryption", "EKS clusters must envelope-encrypt Secrets with a customer KMS key.",
                    _check_secrets_encryption, "mandatory"),
    stack_policy("eks-subnets-multi-az", "EKS cluster subnets must span at least two availability zones.",
                 _check_subnet_zones, "mandatory"),
]
