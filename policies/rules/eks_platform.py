"""What an EKS cluster needs beside its GPU pools to be usable: somewhere for system pods, the device
plugins for the hardware its pools carry, an autoscaler for pools that sit at 0, the Pod Identity
agent for Pod Identity associations.

Stack policies, per ``aws:eks/cluster:Cluster`` of the stack; which node groups, add-ons and
Kubernetes objects belong to which cluster, and how an installed component is recognised (chart
name, release name, workload name, the ``plinth.dev/provides`` label) is :mod:`policies.rules._cluster`.
Nothing here needs a computed value: the joins run on property dependencies, so these rules judge a
first preview as well as a finished update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from policies.rules._base import stack_policy
from policies.rules._cluster import (
    FARGATE_PROFILE,
    NODE_GROUP,
    POD_IDENTITY_ASSOCIATION,
    addon_names,
    auto_mode,
    clusters,
    installed,
    members,
    names,
    taints,
)
from policies.rules._props import as_list, get, plain, require_known
from policies.rules.eks import accelerator_of, instance_types
from policies.rules.training import EFA_TYPES, launch_template_of

# CoreDNS as the EKS add-on tolerates this taint (and the control-plane ones): a node group tainted
# only with it is meant for cluster add-ons (Karpenter and EKS docs use it for system nodes).
SYSTEM_TAINT = "CriticalAddonsOnly"
BLOCKING_EFFECTS = ("NO_SCHEDULE", "NO_EXECUTE")
POD_IDENTITY_AGENT = "eks-pod-identity-agent"
PLUGIN_FOR = {"nvidia": "nvidia-device-plugin", "neuron": "neuron-device-plugin"}
DEVICE = {"nvidia-device-plugin": "nvidia.com/gpu", "neuron-device-plugin": "aws.amazon.com/neuron"}


def _min_size(ng: PolicyResource) -> Any:
    return require_known(get(plain(ng.props), "scalingConfig", "minSize"), ng.name, "scalingConfig", "minSize")


def runs_system_pods(ng: PolicyResource) -> bool:
    """Untainted (or tainted only for add-ons) and never at 0 nodes: CoreDNS and the autoscaler
    itself must have a node before anything can scale."""
    blocking = [t for t in taints(ng) if get(t, "effect") in BLOCKING_EFFECTS and get(t, "key") != SYSTEM_TAINT]
    if blocking:
        return False
    minimum = _min_size(ng)
    return minimum is not None and minimum >= 1


def fargate_for_kube_system(profile: PolicyResource) -> bool:
    return any(get(s, "namespace") == "kube-system" for s in as_list(get(plain(profile.props), "selectors", default=[])))


def _check_system_capacity(args: StackValidationArgs, report: ReportViolation) -> None:
    res = args.resources
    all_clusters = clusters(res)
    for cluster in all_clusters:
        groups = members(res, NODE_GROUP, cluster, all_clusters)
        if not groups or auto_mode(cluster):
            continue  # no pools here to judge; Auto Mode runs its own system node pool
        if any(runs_system_pods(ng) for ng in groups):
            continue
        if any(fargate_for_kube_system(p) for p in members(res, FARGATE_PROFILE, cluster, all_clusters)):
            continue
        report(f"EKS cluster {cluster.name}: every node group is tainted for accelerators or scales from 0 "
               f"({names(groups)}), so CoreDNS and the cluster's add-ons have nowhere to run (no DNS in the "
               "cluster, the autoscaler can't start); add an untainted on-demand node group with minSize >= 1 "
               "for system pods (or a Fargate profile for kube-system)", cluster.urn)


def accelerator_plugins(ng: PolicyResource) -> set[str]:
    """The device plugins a node group's accelerators need (NVIDIA or Neuron)."""
    accelerators = {accelerator_of(t) for t in instance_types(plain(ng.props))}
    return {PLUGIN_FOR[a] for a in accelerators if a in PLUGIN_FOR}


def _has_efa(ng: PolicyResource, resources: list[PolicyResource]) -> bool:
    lt = launch_template_of(ng, resources)
    if lt is None:
        return False
    nics = require_known(get(plain(lt.props), "networkInterfaces", default=[]), lt.name, "networkInterfaces")
    return any(get(n, "interfaceType") in EFA_TYPES for n in as_list(nics))


def _report_missing(args: StackValidationArgs, report: ReportViolation, capability: str,
                    needs: Callable[[PolicyResource, list[PolicyResource]], bool], why: str) -> None:
    res = list(args.resources)
    all_clusters = clusters(res)
    for cluster in all_clusters:
        pools = [ng for ng in members(res, NODE_GROUP, cluster, all_clusters) if needs(ng, res)]
        if pools and not installed(res, cluster, capability, all_clusters):
            report(f"EKS cluster {cluster.name}: node groups {names(pools)} {why}", cluster.urn)


def _check_accelerator_plugins(args: StackValidationArgs, report: ReportViolation) -> None:
    for capability, device in DEVICE.items():
        _report_missing(
            args, report, capability, lambda ng, _res, c=capability: c in accelerator_plugins(ng),
            f"have accelerators but no {capability} is installed on the cluster, so no node advertises {device} "
            "and their pods stay Pending; install its Helm chart (or the GPU Operator for NVIDIA)")


def _check_efa_plugin(args: StackValidationArgs, report: ReportViolation) -> None:
    _report_missing(
        args, report, "efa-device-plugin", _has_efa,
        "launch with EFA interfaces but the aws-efa-k8s-device-plugin is not installed on the cluster: no pod can "
        "request vpc.amazonaws.com/efa, and NCCL falls back to TCP sockets (a fraction of the bandwidth)")


def _check_autoscaler(args: StackValidationArgs, report: ReportViolation) -> None:
    res = list(args.resources)
    all_clusters = clusters(res)
    for cluster in all_clusters:
        at_zero = [ng for ng in members(res, NODE_GROUP, cluster, all_clusters) if _min_size(ng) == 0]
        if not at_zero or installed(res, cluster, "cluster-autoscaler", all_clusters):
            continue
        karpenter = " (Karpenter is installed, but it launches its own nodes from NodePools; it never changes a " \
                    "managed node group's size)" if installed(res, cluster, "karpenter", all_clusters) else ""
        report(f"EKS cluster {cluster.name}: node groups {names(at_zero)} scale from minSize 0 but nothing scales "
               f"them: a managed node group stays at its desiredSize until an autoscaler moves it{karpenter}; install "
               "Cluster Autoscaler (auto-discovery of the groups' Auto Scaling groups)", cluster.urn)


def _check_pod_identity_agent(args: StackValidationArgs, report: ReportViolation) -> None:
    res = list(args.resources)
    all_clusters = clusters(res)
    for cluster in all_clusters:
        associations = members(res, POD_IDENTITY_ASSOCIATION, cluster, all_clusters)
        if not associations or auto_mode(cluster) or POD_IDENTITY_AGENT in addon_names(res, cluster, all_clusters):
            continue
        report(f"EKS cluster {cluster.name}: Pod Identity associations ({names(associations)}) but no "
               f"{POD_IDENTITY_AGENT} add-on: pods get no credentials from them; add the EKS add-on", cluster.urn)


POLICIES = [
    stack_policy("eks-system-node-capacity",
                 "EKS clusters need an untainted node group (minSize >= 1) or a kube-system Fargate profile for system pods.",
                 _check_system_capacity, "mandatory"),
    stack_policy("eks-accelerator-device-plugin",
                 "EKS clusters with GPU/Neuron node groups need the matching device plugin installed.",
                 _check_accelerator_plugins, "mandatory"),
    stack_policy("eks-efa-device-plugin", "EKS clusters with EFA node groups should install the EFA device plugin.",
                 _check_efa_plugin, "advisory"),
    stack_policy("eks-scale-from-zero-autoscaler",
                 "EKS node groups that scale from 0 should have Cluster Autoscaler on their cluster.",
                 _check_autoscaler, "advisory"),
    stack_policy("eks-pod-identity-agent", "EKS clusters with Pod Identity associations need the Pod Identity agent add-on.",
                 _check_pod_identity_agent, "mandatory"),
]
