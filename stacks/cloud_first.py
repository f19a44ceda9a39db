"""cloud-first: everything elastic in one AWS region.

AiNetwork (VPC, NAT per zone, EFA security group, cluster placement group) and Lakehouse (KMS key,
zone buckets), then :func:`eks_platform`: EksCluster (Secrets encrypted with the stack's KMS key) ->
SystemNodeGroup -> EksAddons (vpc-cni, kube-proxy, Pod Identity agent, CoreDNS) -> one GpuNodePool
per ``plinth:gpuPools`` entry -> DevicePlugins (NVIDIA, EFA, Neuron) -> ClusterAutoscaler ->
LakehouseWorkloadAccess (Pod Identity per ``plinth:lakehouse.access`` entry) -> KubernetesGpuEnablement
(RuntimeClass, priorities, team quotas). The strategy decides which components get which arguments;
the components decide the resources.

:func:`eks_platform` is shared with the hybrid strategy's burst cluster and edge-centric's central one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.device_plugins import DevicePlugins, DevicePluginsArgs
from components.eks_addons import EksAddons, EksAddonsArgs
from components.eks_cluster import EksCluster, EksClusterArgs
from components.gpu_node_pool import POOL_TAG, GpuNodePool, GpuNodePoolArgs, resolve_instance
from components.in_cluster_validation import InClusterValidation, InClusterValidationArgs
from components.k8s_gpu import KubernetesGpuEnablement, KubernetesGpuEnablementArgs
from components.lakehouse import Lakehouse, LakehouseArgs
from components.network import AiNetwork, AiNetworkArgs
from components.system_node_group import SystemNodeGroup, SystemNodeGroupArgs, system_node_selector
from components.validator_access import ValidatorAccess, ValidatorAccessArgs, ssh_user
from components.workload_identity import LakehouseAccessArgs, LakehouseWorkloadAccess
from stacks.config import GpuPoolConfig, KubernetesConfig, StackConfig
from stacks.outputs import StackOutputs, node_group_output


def network(cfg: StackConfig) -> AiNetwork:
    return AiNetwork(f"{cfg.prefix}-net", AiNetworkArgs(
        network=cfg.network, prefix=cfg.prefix, region=cfg.region, tags=cfg.resource_tags(),
    ))


def eks_cluster(cfg: StackConfig, net: AiNetwork, lake: Lakehouse) -> EksCluster:
    """Secrets are envelope-encrypted with the stack's KMS key (the lakehouse key). Deployed from
    inside the network (``deployFromVpc``) with on-prem blocks connected: those reach the private
    endpoint (the hybrid burst cluster driven from on-prem over the VPN)."""
    on_prem = list(cfg.network.on_prem_cidr or []) if cfg.cluster.deploy_from_vpc else []
    return EksCluster(f"{cfg.prefix}-eks", EksClusterArgs(
        cluster=cfg.cluster, subnet_ids=net.private_subnet_ids, region=cfg.region, tags=cfg.resource_tags(),
        secrets_kms_key_arn=lake.kms_key_arn, api_client_cidrs=on_prem,
    ))


def validator_access(cfg: StackConfig, net: AiNetwork) -> ValidatorAccess | None:
    """The validator's way onto the GPU nodes (plinth:validation.sshAccess; None when not configured)."""
    ssh = cfg.validation.ssh_access
    if ssh is None:
        return None
    return ValidatorAccess(f"{cfg.prefix}-validator", ValidatorAccessArgs(
        config=ssh, vpc_id=net.vpc_id, subnet_ids=net.private_subnet_ids, prefix=cfg.prefix, region=cfg.region,
        ssh_user=ssh_user(resolve_instance(p).eks_ami_type for p in cfg.gpu_pools), tags=cfg.resource_tags(),
    ))


def gpu_pools(cfg: StackConfig, net: AiNetwork, eks: EksCluster,
              pools: list[GpuPoolConfig] | None = None, access: ValidatorAccess | None = None) -> list[GpuNodePool]:
    """One managed node group per pool. Distributed-training pools share the network's cluster
    placement group (one spine for all-reduce); every pool gets the EFA security group (used only
    when the pool turns EFA on) and the cluster security group (EFA templates replace EKS's own);
    with validator access, the key pair and the group that admits SSH from its source."""
    built = []
    for pool in cfg.gpu_pools if pools is None else pools:
        built.append(GpuNodePool(f"{cfg.prefix}-{pool.name}", GpuNodePoolArgs(
            cluster_name=eks.cluster_name,
            subnet_ids=net.private_subnet_ids,
            availability_zones=net.availability_zones,
            security_group_ids=[net.efa_security_group_id],
            cluster_security_group_id=eks.cluster_security_group_id,
            pool=pool,
            strategy=cfg.strategy,
            tags=cfg.resource_tags(),
            placement_group_name=net.placement_group_name if pool.distributed else None,
            autoscaled=cfg.cluster.autoscaler,
            key_name=access.key_pair_name if access else None,
            ssh_security_group_id=access.node_security_group_id if access else None,
        ), opts=pulumi.ResourceOptions(depends_on=[eks])))
    return built


@dataclass
class EksPlatform:
    """What :func:`eks_platform` built, for the strategy's outputs and later components."""

    cluster: EksCluster
    system: SystemNodeGroup
    addons: EksAddons
    pools: list[GpuNodePool]
    plugins: DevicePlugins
    autoscaler: ClusterAutoscaler | None
    lakehouse_access: LakehouseWorkloadAccess | None
    validator_access: ValidatorAccess | None


def eks_platform(cfg: StackConfig, net: AiNetwork, lake: Lakehouse) -> EksPlatform:
    """An EKS cluster that comes up usable: DNS (system nodes + CoreDNS), managed add-ons, GPU pools,
    device plugins for what the pools carry, an autoscaler for pools that sit at 0, and workload
    identities for the lakehouse."""
    tags = cfg.resource_tags()
    eks = eks_cluster(cfg, net, lake)
    system = SystemNodeGroup(f"{cfg.prefix}-system", SystemNodeGroupArgs(
        cluster_name=eks.cluster_name, subnet_ids=net.private_subnet_ids, nodes=cfg.cluster.system_nodes,
        tags=tags), opts=pulumi.ResourceOptions(depends_on=[eks]))
    # CoreDNS needs a node to become ACTIVE: the add-ons come after the system nodes.
    addons = EksAddons(f"{cfg.prefix}-addons", EksAddonsArgs(
        cluster_name=eks.cluster_name, kubernetes_version=cfg.cluster.version, tags=tags,
        depends_on=[system.node_group]))
    access = validator_access(cfg, net)
    pools = gpu_pools(cfg, net, eks, access=access)
    plugins = DevicePlugins(f"{cfg.prefix}-plugins", DevicePluginsArgs(
        provider=eks.k8s_provider,
        # The GPU Operator brings its own NVIDIA device plugin: never two on one node.
        accelerators={p.accelerator for p in pools} - ({"nvidia"} if cfg.kubernetes and cfg.kubernetes.gpu_operator else set()),
        efa=any(p.efa_interfaces for p in pools)))
    autoscaler = None
    if cfg.cluster.autoscaler:
        autoscaler = ClusterAutoscaler(f"{cfg.prefix}-autoscaler", ClusterAutoscalerArgs(
            cluster_name=eks.cluster_name, kubernetes_version=cfg.cluster.version, region=cfg.region,
            provider=eks.k8s_provider, node_selector=system_node_selector(), tags=tags,
            depends_on=[addons.pod_identity_agent, system.node_group]))
    lake_access = None
    if cfg.lakehouse.access:
        lake_access = LakehouseWorkloadAccess(f"{cfg.prefix}-lake-access", LakehouseAccessArgs(
            cluster_name=eks.cluster_name, access=list(cfg.lakehouse.access), bucket_arns=lake.bucket_arns,
            glue_database_names=lake.glue_database_names, kms_key_arn=lake.kms_key_arn, region=cfg.region,
            tags=tags, depends_on=[addons.pod_identity_agent]))
    return EksPlatform(eks, system, addons, pools, plugins, autoscaler, lake_access, access)


def gpu_enablement(name: str, provider: k8s.Provider, kube: KubernetesConfig | None, on_eks: bool,
                   depends_on: list[pulumi.Resource] | None = None) -> KubernetesGpuEnablement:
    """Device plugin (or GPU operator), RuntimeClass, priorities and per-team GPU quotas on the
    cluster ``provider`` reaches. EKS accelerated AL2023 AMIs ship the driver and container toolkit
    (``driver_preinstalled``), so an operator there must not install its own; on EKS the NVIDIA
    device plugin is the pinned Helm chart of :class:`DevicePlugins`, so no raw DaemonSet here."""
    return KubernetesGpuEnablement(name, KubernetesGpuEnablementArgs(
        provider=provider, config=kube or KubernetesConfig(), driver_preinstalled=on_eks,
        device_plugin=not on_eks,
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
    lake = lakehouse(cfg)
    platform = eks_platform(cfg, net, lake)
    eks, pools = platform.cluster, platform.pools
    gpu = gpu_enablement(f"{cfg.prefix}-gpu", eks.k8s_provider, cfg.kubernetes, on_eks=True)
    extras: dict[str, Any] = {"kubeconfig": eks.kubeconfig, "kms_key_arn": lake.kms_key_arn}
    if platform.lakehouse_access is not None:
        extras["lakehouse_roles"] = platform.lakehouse_access.role_arns
    # after the nvidia RuntimeClass, and the Pod Identity agent its credentials come from
    validation = in_cluster_validation(cfg, eks, lake, depends_on=[gpu, platform.addons.pod_identity_agent])
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
        validator_access=platform.validator_access.access if platform.validator_access else None,
        extras=extras,
    )
