"""What belongs to which EKS cluster, for stack policies about what a cluster needs to work.

- AWS resources name their cluster in ``clusterName`` (node groups, add-ons, Fargate profiles, Pod
  Identity associations): joined through that input's property dependency, else its known value
  (``_graph.referenced``).
- Kubernetes objects and Helm releases reach a cluster through their explicit provider, whose
  ``kubeconfig`` is computed from the cluster's outputs: the provider's property dependency (or
  plain dependency) on an ``aws:eks/cluster:Cluster`` says which. An explicit provider no cluster of
  the stack feeds (a kubeconfig file or context: hybrid's on-prem cluster) is another cluster, so what
  it installs counts for none of the stack's clusters. An object on the default provider (the ambient
  kubeconfig) could be meant for any of them: it counts for every cluster.

What a Kubernetes object or Helm release installs is read from, in this order of robustness: the
Helm chart's name (the last path segment of ``chart``, so ``oci://…/karpenter`` and
``eks/aws-efa-k8s-device-plugin`` match), the Helm release name (``name``), a workload's
``app.kubernetes.io/name`` label and ``metadata.name``, and plinth's own label
``plinth.dev/provides: <capability>`` on any object. EKS add-ons match by ``addonName``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pulumi_policy import PolicyResource

from policies.rules._graph import of_type, referenced
from policies.rules._props import as_list, get, plain, truthy

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"
FARGATE_PROFILE = "aws:eks/fargateProfile:FargateProfile"
POD_IDENTITY_ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
K8S_PROVIDER = "pulumi:providers:kubernetes"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHARTS = ("kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart")
WORKLOADS = ("kubernetes:apps/v1:DaemonSet", "kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
PROVIDES_LABEL = "plinth.dev/provides"

# capability -> names that install it (chart names, release/workload names, labels contain one of these)
CAPABILITIES: dict[str, tuple[str, ...]] = {
    # NVIDIA/k8s-device-plugin chart and static manifest; the GPU Operator runs the same plugin.
    "nvidia-device-plugin": ("nvidia-device-plugin", "gpu-operator"),
    # aws-neuron/neuron-helm-charts (the Neuron device plugin is one of its parts).
    "neuron-device-plugin": ("neuron-device-plugin", "neuron-helm-chart"),
    # aws/eks-charts stable/aws-efa-k8s-device-plugin (its DaemonSet: aws-efa-k8s-device-plugin-daemonset).
    "efa-device-plugin": ("aws-efa-k8s-device-plugin", "efa-device-plugin"),
    # kubernetes/autoscaler charts/cluster-autoscaler (release often "cluster-autoscaler", image aws-cluster-autoscaler).
    "cluster-autoscaler": ("cluster-autoscaler",),
    "karpenter": ("karpenter",),
}


def clusters(resources: Sequence[PolicyResource]) -> list[PolicyResource]:
    return of_type(resources, CLUSTER)


def cluster_of(res: PolicyResource, candidates: Sequence[PolicyResource]) -> PolicyResource | None:
    """The stack's cluster an AWS resource names in ``clusterName`` (None: a cluster outside the stack)."""
    return referenced(res, "clusterName", candidates)


def members(resources: Sequence[PolicyResource], type_: str, cluster: PolicyResource,
            candidates: Sequence[PolicyResource]) -> list[PolicyResource]:
    """Resources of ``type_`` whose ``clusterName`` is ``cluster``."""
    return [r for r in of_type(resources, type_) if (c := cluster_of(r, candidates)) is not None and c.urn == cluster.urn]


ANY_CLUSTER = "*"  # applied through the default provider: whichever cluster the ambient kubeconfig names
ELSEWHERE = ""  # an explicit provider tied to no cluster of this stack (another cluster, e.g. on-prem)


def target_cluster(res: PolicyResource, resources: Sequence[PolicyResource], candidates: Sequence[PolicyResource]) -> str:
    """The URN of the stack's cluster a Kubernetes object is applied to, through its provider;
    :data:`ANY_CLUSTER` on a default provider; :data:`ELSEWHERE` on an explicit provider that no
    cluster of this stack feeds (its kubeconfig is a file or a context: another cluster)."""
    if res.provider is None or res.provider.name.startswith("default"):
        return ANY_CLUSTER  # offline the default provider isn't registered; the engine names it default_<version>
    provider = next((r for r in resources if r.urn == res.provider.urn), None)
    if provider is None:
        return ANY_CLUSTER
    by_urn = {c.urn: c for c in candidates}
    for dep in [*provider.property_dependencies.get("kubeconfig", []), *provider.dependencies]:
        if dep.urn in by_urn:
            return dep.urn
    return ELSEWHERE


def chart_name(chart: Any) -> str | None:
    """``oci://public.ecr.aws/karpenter/karpenter`` / ``eks/aws-efa-k8s-device-plugin`` -> the chart's name."""
    if not isinstance(chart, str) or not chart:
        return None
    return chart.rstrip("/").rsplit("/", 1)[-1].split("@", 1)[0].lower()


def identifiers(res: PolicyResource) -> set[str]:
    """The names that say what ``res`` installs (chart, release, workload, plinth label, add-on)."""
    props = plain(res.props)
    names: set[Any] = set()
    if res.resource_type == HELM_RELEASE or res.resource_type in HELM_CHARTS:
        names |= {chart_name(get(props, "chart")), get(props, "name"), res.name}
    elif res.resource_type == ADDON:
        names.add(get(props, "addonName"))
    if res.resource_type.startswith("kubernetes:"):
        labels = get(props, "metadata", "labels", default={})
        labels = labels if isinstance(labels, dict) else {}
        names.add(labels.get(PROVIDES_LABEL))
        if res.resource_type in WORKLOADS:
            names |= {labels.get("app.kubernetes.io/name"), get(props, "metadata", "name")}
    return {n.lower() for n in names if isinstance(n, str) and n}


def provides(res: PolicyResource, capability: str) -> bool:
    return any(pattern in name for name in identifiers(res) for pattern in CAPABILITIES[capability])


def installed(resources: Sequence[PolicyResource], cluster: PolicyResource, capability: str,
              candidates: Sequence[PolicyResource]) -> list[PolicyResource]:
    """Helm releases/charts and Kubernetes objects providing ``capability`` on ``cluster`` (objects on
    the default provider count for every cluster; those on another cluster's provider for none)."""
    found = []
    for r in resources:
        if not (r.resource_type.startswith("kubernetes:") or r.resource_type == HELM_RELEASE):
            continue
        if not provides(r, capability):
            continue
        if target_cluster(r, resources, candidates) in (ANY_CLUSTER, cluster.urn):
            found.append(r)
    return found


def addon_names(resources: Sequence[PolicyResource], cluster: PolicyResource,
                candidates: Sequence[PolicyResource]) -> set[str]:
    return {n for a in members(resources, ADDON, cluster, candidates) if isinstance(n := get(plain(a.props), "addonName"), str)}


def auto_mode(cluster: PolicyResource) -> bool:
    """EKS Auto Mode: AWS runs the system node pool, CoreDNS and the Pod Identity agent itself."""
    return truthy(get(plain(cluster.props), "computeConfig", "enabled"))


def taints(ng: PolicyResource) -> list[Any]:
    return as_list(get(plain(ng.props), "taints", default=[]))


def names(resources: Iterable[PolicyResource]) -> str:
    return ", ".join(sorted(r.name for r in resources))
