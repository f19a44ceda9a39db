"""The EKS managed add-ons every plinth cluster runs: vpc-cni, kube-proxy, eks-pod-identity-agent and
coredns, at the versions pinned in ``policies/data/eks_platform.yaml`` for the cluster's Kubernetes
minor (that file says how to bump them).

Conflict resolution: EKS bootstraps self-managed vpc-cni, kube-proxy and CoreDNS on a new cluster;
``OVERWRITE`` on create lets the managed add-on take those objects over (the EKS user guide's
"Create the … Amazon EKS add-on" procedures), and ``OVERWRITE`` on update keeps plinth's config the
only source of truth — a hand edit with ``kubectl`` would otherwise survive silently and then differ
between clusters. (terraform-aws-eks defaults to the same pair.)

Order: CoreDNS is a Deployment; created before any node it reports DEGRADED and the create times
out, so the add-ons wait for the system node group (``EksAddonsArgs.depends_on``: a component's
``depends_on`` does not reach its children). vpc-cni and kube-proxy then take over the copies EKS
bootstrapped on those nodes; every later node joins with the managed versions.

Usage::

    addons = EksAddons(f"{prefix}-addons", EksAddonsArgs(cluster_name=eks.cluster_name,
                       kubernetes_version=cfg.cluster.version, tags=tags, depends_on=[system.node_group]))
    addons.pod_identity_agent  # what a Pod Identity association's pods need running
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from policies.eks_pins import pins

RESOLVE_ON_CREATE = "OVERWRITE"
RESOLVE_ON_UPDATE = "OVERWRITE"


def addon_plan(kubernetes_version: str) -> dict[str, str]:
    """Add-on name -> pinned version for this cluster version (ConfigError naming
    plinth:cluster.version when plinth pins none)."""
    return pins().addon_versions(kubernetes_version)


@dataclass
class EksAddonsArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    tags: dict[str, str] = field(default_factory=dict)
    depends_on: list[pulumi.Resource] = field(default_factory=list)  # the system node group: CoreDNS needs a node


class EksAddons(pulumi.ComponentResource):
    addons: dict[str, aws.eks.Addon]
    pod_identity_agent: aws.eks.Addon

    def __init__(self, name: str, args: EksAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        plan = addon_plan(args.kubernetes_version)
        super().__init__("plinth:compute:EksAddons", name, None, opts)
        self.addons = {
            addon: aws.eks.Addon(
                f"{name}-{addon}", cluster_name=args.cluster_name, addon_name=addon, addon_version=version,
                resolve_conflicts_on_create=RESOLVE_ON_CREATE, resolve_conflicts_on_update=RESOLVE_ON_UPDATE,
                tags=args.tags, opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on))
            for addon, version in plan.items()
        }
        self.pod_identity_agent = self.addons["eks-pod-identity-agent"]
        self.register_outputs({"versions": plan})
