"""hybrid: GPUs on the cluster you already run, the cloud only for bursts, data kept in one place.

- KubernetesGpuEnablement on the EXISTING cluster, through an explicit provider built from
  ``plinth:kubernetes.context`` / ``.kubeconfig`` (never the ambient default: a stray KUBECONFIG must
  not decide which cluster gets a GPU operator).
- AiNetwork with the site-to-site VPN to ``plinth:network.onPremCidr``.
- Burst capacity: cloud-first's EKS platform (``cloud_first.eks_platform``: system nodes, add-ons,
  device plugins, Cluster Autoscaler) whose GPU pools scale from 0 (``minSize`` must be 0) and back,
  with the same team quotas, so a team's jobs run the same way on both sides.
- Lakehouse with ``restrict_to_region``: every bucket and the (single-region) KMS key pinned to the
  stack's region, replication denied.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from policies.errors import ConfigError
from stacks import cloud_first
from stacks.config import KubernetesConfig, StackConfig
from stacks.outputs import StackOutputs


def check_burst_pools(cfg: StackConfig) -> None:
    """Burst pools cost nothing while idle only if they can reach 0 nodes."""
    for i, pool in enumerate(cfg.gpu_pools):
        if pool.min_size != 0:
            raise ConfigError(
                f"plinth:gpuPools[{i}].minSize: hybrid burst pools scale from 0 (got {pool.min_size}); "
                "steady capacity belongs on the existing cluster"
            )


def existing_cluster_provider(name: str, kube: KubernetesConfig) -> k8s.Provider:
    """The on-prem cluster. ``kubeconfig`` is a path (or contents); None uses KUBECONFIG /
    ~/.kube/config, and ``context`` picks the cluster inside it."""
    return k8s.Provider(name, context=kube.context, kubeconfig=kube.kubeconfig)


def build(cfg: StackConfig) -> StackOutputs:
    kube = cfg.kubernetes
    if kube is None:  # the config model already refuses this; keep the type checker and users honest
        raise ConfigError("plinth:kubernetes: strategy hybrid needs the existing cluster to enable GPUs on")
    check_burst_pools(cfg)

    onprem = existing_cluster_provider(f"{cfg.prefix}-onprem", kube)
    cloud_first.gpu_enablement(f"{cfg.prefix}-onprem-gpu", onprem, kube, on_eks=False)

    if cfg.network.vpn is None:
        pulumi.log.warn("plinth:network.vpn is not set: connect the VPC to onPremCidr yourself "
                        "(Direct Connect, Transit Gateway) or burst nodes cannot reach on-prem data")
    net = cloud_first.network(cfg)

    lake = cloud_first.lakehouse(cfg, restrict_to_region=True)
    cluster_name: pulumi.Output[str] | None = None
    node_groups = []
    selector = None
    extras: dict[str, pulumi.Input[object]] = {"vpn_connection_id": net.vpn_connection_id,
                                               "onprem_context": kube.context}
    if cfg.gpu_pools:
        # The burst cluster is cloud-first's platform (system nodes, add-ons, device plugins, the
        # autoscaler that takes the pools from 0 and back), with the plain device plugin: the EKS AMI
        # brings the driver, and the same team namespaces and quotas as on-prem.
        burst_kube = kube.model_copy(update={"gpu_operator": False})
        platform = cloud_first.eks_platform(cfg.model_copy(update={"kubernetes": burst_kube}), net, lake)
        eks = platform.cluster
        cloud_first.gpu_enablement(f"{cfg.prefix}-burst-gpu", eks.k8s_provider, burst_kube, on_eks=True)
        cluster_name = eks.cluster_name
        node_groups = cloud_first.pool_outputs(platform.pools)
        selector = cloud_first.gpu_node_selector(eks)
        extras["kubeconfig"] = eks.kubeconfig

    extras["kms_key_arn"] = lake.kms_key_arn
    return StackOutputs(
        strategy=cfg.strategy,
        profile=cfg.profile,
        region=cfg.region,
        cluster_name=cluster_name,
        node_groups=node_groups,
        gpu_node_tag_selector=selector,
        buckets=lake.bucket_names,
        object_store_endpoint=lake.endpoint,
        vpc_id=net.vpc_id,
        extras=extras,
    )
