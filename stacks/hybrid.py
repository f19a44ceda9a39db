"""hybrid: GPUs on the cluster you already run, the cloud only for bursts, data kept in one place.

- KubernetesGpuEnablement on the EXISTING cluster, through an explicit provider built from
  ``plinth:kubernetes.context`` / ``.kubeconfig`` (never the ambient default: a stray KUBECONFIG must
  not decide which cluster gets a GPU operator).
  Objects already on that cluster (``plinth:kubernetes.existing``) are adopted, not created
  (:mod:`components.k8s_adopt`).
- AiNetwork with the site-to-site VPN to ``plinth:network.onPremCidr`` (a real customer gateway:
  documentation, private, loopback … addresses are refused).
- Burst capacity: cloud-first's EKS platform (``cloud_first.eks_platform``: system nodes, add-ons,
  device plugins, Cluster Autoscaler) whose GPU pools scale from 0 (``minSize`` must be 0) and back,
  with the same team quotas, so a team's jobs run the same way on both sides. It needs a path from
  on-prem (the VPN, or ``network.onPremLink: external``); with ``deployFromVpc`` its control plane
  security group admits TCP 443 from every on-prem block
  (:class:`components.onprem_access.OnPremApiAccess`, made by the EKS component so that the
  Kubernetes provider, and with it every object on the cluster, waits for those rules).
- Lakehouse with ``restrict_to_region``: every bucket and the (single-region) KMS key pinned to the
  stack's region, replication denied.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.eks_cluster import EksCluster
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


def check_burst_path(cfg: StackConfig) -> None:
    """A burst cluster nobody on-prem can reach is a bill, not capacity: it needs the VPN plinth
    builds, or an explicit statement that another link (Direct Connect, transit gateway) exists."""
    if cfg.gpu_pools and cfg.network.vpn is None and cfg.network.on_prem_link == "vpn":
        raise ConfigError(
            "plinth:network.vpn: hybrid burst pools need a path from on-prem: set network.vpn "
            "(customerGatewayIp: your router's public IPv4 address), or network.onPremLink: external "
            "if Direct Connect or a transit gateway already connects this VPC")
    if cfg.gpu_pools and cfg.cluster.endpoint_public_access:
        pulumi.log.warn("plinth:cluster.endpointPublicAccess: with the public endpoint on, public DNS answers "
                        "with its public address and on-prem clients leave through the internet, not the VPN")


def existing_cluster_provider(name: str, kube: KubernetesConfig) -> k8s.Provider:
    """The on-prem cluster. ``kubeconfig`` is a path (or contents); None uses KUBECONFIG /
    ~/.kube/config, and ``context`` picks the cluster inside it."""
    return k8s.Provider(name, context=kube.context, kubeconfig=kube.kubeconfig)


def build(cfg: StackConfig) -> StackOutputs:
    kube = cfg.kubernetes
    if kube is None:  # the config model already refuses this; keep the type checker and users honest
        raise ConfigError("plinth:kubernetes: strategy hybrid needs the existing cluster to enable GPUs on")
    check_burst_pools(cfg)
    check_burst_path(cfg)

    onprem = existing_cluster_provider(f"{cfg.prefix}-onprem", kube)
    cloud_first.gpu_enablement(f"{cfg.prefix}-onprem-gpu", onprem, kube, on_eks=False)

    if cfg.network.vpn is None:
        pulumi.log.warn("plinth:network.vpn is not set: route onPremCidr through your own link "
                        "(Direct Connect, transit gateway) or on-prem and AWS cannot reach each other")
    net = cloud_first.network(cfg)

    lake = cloud_first.lakehouse(cfg, restrict_to_region=True)
    cluster_name: pulumi.Output[str] | None = None
    node_groups = []
    selector = None
    extras: dict[str, pulumi.Input[object]] = {"vpn_connection_id": net.vpn_connection_id,
                                               "onprem_context": kube.context}
    burst: tuple[EksCluster, list[pulumi.Resource]] | None = None
    access = None
    if cfg.gpu_pools:
        # The burst cluster is cloud-first's platform (system nodes, add-ons, device plugins, the
        # autoscaler that takes the pools from 0 and back), with the plain device plugin: the EKS AMI
        # brings the driver, and the same team namespaces and quotas as on-prem. A new cluster:
        # nothing on it to adopt.
        burst_kube = kube.model_copy(update={"gpu_operator": False, "existing": []})
        platform = cloud_first.eks_platform(cfg.model_copy(update={"kubernetes": burst_kube}), net, lake)
        eks = platform.cluster
        burst_gpu = cloud_first.gpu_enablement(f"{cfg.prefix}-burst-gpu", eks.k8s_provider, burst_kube, on_eks=True)
        burst = (eks, [burst_gpu, platform.addons.pod_identity_agent])
        cluster_name = eks.cluster_name
        node_groups = cloud_first.pool_outputs(platform.pools)
        selector = cloud_first.gpu_node_selector(eks)
        access = platform.validator_access.access if platform.validator_access else None
        extras["kubeconfig"] = eks.kubeconfig

    extras["kms_key_arn"] = lake.kms_key_arn
    if burst is not None:  # in-cluster validation runs on the burst EKS cluster (Pod Identity)
        validation = cloud_first.in_cluster_validation(cfg, burst[0], lake, depends_on=burst[1])
        if validation is not None:
            extras["validation_facts"] = validation.facts_location
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
        validator_access=access,
        extras=extras,
    )
