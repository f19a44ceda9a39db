"""cloud-first: everything elastic in one AWS region.

AiNetwork (VPC, EFA security group, cluster placement group) -> EksCluster -> one GpuNodePool per
``plinth:gpuPools`` entry -> KubernetesGpuEnablement (device plugin / GPU operator, team quotas) on
the new cluster -> Lakehouse. The strategy decides which components get which arguments; the
components decide the resources.

:func:`gpu_pools` is shared with the hybrid strategy's burst capacity.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.eks_cluster import EksCluster, EksClusterArgs
from components.gpu_node_pool import POOL_TAG, GpuNodePool, GpuNodePoolArgs
from components.in_cluster_validation import InClusterValidation, InClusterValidationArgs
from components.k8s_gpu import KubernetesGpuEnablement, KubernetesGpuEnablementArgs
from components.lakehouse import Lakehouse, LakehouseArgs
from components.network import AiNetwork, AiNetworkArgs
from stacks.config import GpuPoolConfig, KubernetesConfig, StackConfig
from stacks.outputs import StackOutputs, node_group_output


def network(cfg: StackConfig) -> AiNetwork:
    return AiNetwork(f"{cfg.prefix}-net", AiNetworkArgs(
        network=cfg.network, prefix=cfg.prefix, region=cfg.region, tags=cfg.resource_tags(),
    ))


def eks_cluster(cfg: StackConfig, net: AiNetwork) -> EksCluster:
    return EksCluster(f"{cfg.prefix}-eks", EksClusterArgs(
        cluster=cfg.cluster, subnet_ids=net.private_subnet_ids, region=cfg.region, tags=cfg.resource_tags(),
    ))


def gpu_pools(cfg: StackConfig, net: AiNetwork, eks: EksCluster,
              pools: list[GpuPoolConfig] | None = None) -> list[GpuNodePool]:
    """One managed node group per pool. Distributed-training pools share the network's cluster
    placement group (one spine for all-reduce); every pool gets the EFA security group (used only
    when the pool turns EFA on) and the cluster security group (EFA templates replace EKS's own)."""
    built = []
    for pool in cfg.gpu_pools if pools is None else pools:
        built.append(GpuNodePool(f"{cfg.prefix}-{pool.name}", GpuNodePoolArgs(
            cluster_name=eks.cluster_name,
            subnet_ids=net.private_subnet_ids,
            security_group_ids=[net.efa_security_group_id],
            cluster_security_group_id=eks.cluster_security_group_id,
            pool=pool,
            strategy=cfg.strategy,
            tags=cfg.resource_tags(),
            placement_group_name=net.placement_group_name if pool.distributed else None,
        ), opts=pulumi.ResourceOptions(depends_on=[eks])))
    return built


def gpu_enablement(name: str, provider: k8s.Provider, kube: KubernetesConfig | None, on_eks: bool,
                   depends_on: list[pulumi.Resource] | None = None) -> KubernetesGpuEnablement:
    """Device plugin (or GPU operator), RuntimeClass, priorities and per-team GPU quotas on the
    cluster ``provider`` reaches. EKS accelerated AL2023 AMIs ship the driver and container toolkit
    (``driver_preinstalled``), so an operator there must not install its own."""
    return KubernetesGpuEnablement(name, KubernetesGpuEnablementArgs(
        provider=provider, config=kube or KubernetesConfig(), driver_preinstalled=on_eks,
    ), opts=pulumi.ResourceOptions(depends_on=depends_on or []))


def lakehouse(cfg: StackConfig, restrict_to_region: bool = False) -> Lakehouse:
    # The component already prefixes physical names (buckets, KMS alias) with cfg.prefix.
    return Lakehouse("lake", LakehouseArgs(
        lakehouse=cfg.lakehouse, prefix=cfg.prefix, region=cfg.region, tags=cfg.resource_tags(),
        restrict_to_region=restrict_to_region,
    ))


def in_cluster_validation(cfg: StackConfig, eks: EksCluster, lake: Lakehouse,
                          depends_on: list[pulumi.Resource]) -> InClusterValidation | None:
    """``plinth agent`` on every GPU node of the EKS cluster, facts into the lakehouse bucket of
    ``bucketZone`` (plinth:validation.inCluster; None when not configured)."""
    ic = cfg.validation.in_cluster
    if ic is None:
        return None
    zone = ic.bucket_zone
    return InClusterValidation(f"{cfg.prefix}-validation", InClusterValidationArgs(
        config=ic, provider=eks.k8s_provider, cluster_name=eks.cluster_name,
        bucket_name=lake.bucket_names.apply(lambda b: b[zone]), bucket_arn=lake.bucket_arns.apply(lambda b: b[zone]),
        kms_key_arn=lake.kms_key_arn, region=cfg.region, profile=ic.profile or cfg.profile, tags=cfg.resource_tags(),
    ), opts=pulumi.ResourceOptions(depends_on=depends_on))


def pool_outputs(pools: list[GpuNodePool]) -> list[pulumi.Output[dict[str, Any]]]:
    return [
        node_group_output(p.node_group_name, p.instance_type, p.max_size, p.node_tag_selector)
        for p in pools
    ]


def gpu_node_selector(eks: EksCluster) -> pulumi.Output[dict[str, str]]:
    """EC2 filters matching every plinth GPU node of this cluster (all pools): EKS tags managed
    nodes with eks:cluster-name, and each GpuNodePool tags its nodes with plinth:pool."""
    return eks.cluster_name.apply(lambda name: {"tag:eks:cluster-name": name, "tag-key": POOL_TAG})


def build(cfg: StackConfig) -> StackOutputs:
    net = network(cfg)
    eks = eks_cluster(cfg, net)
    pools = gpu_pools(cfg, net, eks)
    # After the pools: the device plugin has nothing to schedule on before GPU nodes can exist.
    gpu = gpu_enablement(f"{cfg.prefix}-gpu", eks.k8s_provider, cfg.kubernetes, on_eks=True, depends_on=list(pools))
    lake = lakehouse(cfg)
    extras: dict[str, Any] = {"kubeconfig": eks.kubeconfig, "kms_key_arn": lake.kms_key_arn}
    validation = in_cluster_validation(cfg, eks, lake, depends_on=[gpu])  # after the nvidia RuntimeClass
    if validation is not None:
        extras["validation_facts"] = validation.facts_location
    return StackOutputs(
        strategy=cfg.strategy,
        profile=cfg.profile,
        region=cfg.region,
        cluster_name=eks.cluster_name,
        node_groups=pool_outputs(pools),
        gpu_node_tag_selector=gpu_node_selector(eks),
        buckets=lake.bucket_names,
        object_store_endpoint=lake.endpoint,
        vpc_id=net.vpc_id,
        extras=extras,
    )
