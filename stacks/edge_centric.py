"""edge-centric: inference on devices beside the data (< 20 ms), a small lakehouse in the middle.

- EdgeDeviceGroup: an AWS IoT thing group with one thing (and a certificate signed from the device's
  CSR) per device; the devices reach their lakehouse zones through the IoT credentials provider
  (role, role alias, prefix-scoped S3 policy); and, when ``plinth:edge.workload`` is set, the
  inference workload deployed to the edge cluster (k3s, MicroK8s…) through an explicit provider from
  ``workload.kubeconfig`` / ``workload.context``.
- Lakehouse: only the zones an edge fleet needs (raw samples up, models down) unless the stack
  names its own ``plinth:lakehouse.zones``.
- Central GPU capacity (retraining on what the fleet uploads) only when ``plinth:gpuPools`` is set:
  then the same network, EKS cluster and pools as cloud-first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi_kubernetes as k8s

from components.edge import EdgeDeviceGroup, EdgeDeviceGroupArgs, EdgeLake
from policies.errors import ConfigError
from stacks import cloud_first
from stacks.config import EdgeWorkload, StackConfig
from stacks.outputs import StackOutputs

EDGE_ZONES = ["raw", "models"]  # raw: samples the devices upload; models: what they download
# Relative CSR paths start where `pulumi up` runs the program: the project directory.
PROJECT_DIR = Path(__file__).resolve().parent.parent


def edge_lakehouse_config(cfg: StackConfig) -> StackConfig:
    """The stack config with the edge default zones, unless the user chose zones explicitly
    (``model_fields_set`` tells a default apart from a value written in the stack file)."""
    if "lakehouse" in cfg.model_fields_set and "zones" in cfg.lakehouse.model_fields_set:
        return cfg
    lake = cfg.lakehouse.model_copy(update={"zones": list(EDGE_ZONES)})
    return cfg.model_copy(update={"lakehouse": lake})


def workload_provider(name: str, workload: EdgeWorkload | None) -> k8s.Provider | None:
    """The edge cluster's provider, or None when the stack deploys no workload."""
    if workload is None:
        return None
    return k8s.Provider(name, context=workload.context, kubeconfig=workload.kubeconfig)


def build(cfg: StackConfig) -> StackOutputs:
    edge = cfg.edge
    if edge is None:  # the config model already refuses this
        raise ConfigError("plinth:edge: strategy edge-centric needs at least one device")

    lake_cfg = edge_lakehouse_config(cfg)
    lake = cloud_first.lakehouse(lake_cfg)
    provider = workload_provider(f"{cfg.prefix}-edge-k8s", edge.workload)
    fleet = EdgeDeviceGroup("edge", EdgeDeviceGroupArgs(
        edge=edge, prefix=cfg.prefix, region=cfg.region, tags=cfg.resource_tags(), k8s_provider=provider,
        csr_base_dir=PROJECT_DIR,
        lake=EdgeLake(zones=list(lake_cfg.lakehouse.zones), bucket_arns=lake.bucket_arns, kms_key_arn=lake.kms_key_arn),
    ))

    extras: dict[str, Any] = {
        "edge_things": fleet.thing_names,
        # What a device needs besides its certificate: where to ask for credentials, which alias to
        # ask for (GET https://<endpoint>/role-aliases/<alias>/credentials, x-amzn-iot-thingname: <thing>),
        # and where MQTT lives.
        "edge_credentials_endpoint": fleet.credentials_endpoint,
        "edge_role_aliases": fleet.role_aliases,
        "edge_data_endpoint": fleet.data_endpoint,
        # Secrets (the component marks them): copied to each device once. Only devices with
        # generateKeyPair: true have an entry in edge_device_keys; the others' keys never left them.
        "edge_certificate_pems": fleet.certificate_pems,
        "edge_device_keys": fleet.private_keys,
        "kms_key_arn": lake.kms_key_arn,
    }
    outputs = StackOutputs(
        strategy=cfg.strategy,
        profile=cfg.profile,
        region=cfg.region,
        buckets=lake.bucket_names,
        object_store_endpoint=lake.endpoint,
        thing_group=fleet.thing_group_name,
        extras=extras,
    )
    if cfg.gpu_pools:
        net = cloud_first.network(cfg)
        platform = cloud_first.eks_platform(edge_lakehouse_config(cfg), net, lake)
        eks, pools = platform.cluster, platform.pools
        cloud_first.gpu_enablement(f"{cfg.prefix}-gpu", eks.k8s_provider, cfg.kubernetes, on_eks=True)
        outputs.cluster_name = eks.cluster_name
        outputs.node_groups = cloud_first.pool_outputs(pools)
        outputs.gpu_node_tag_selector = cloud_first.gpu_node_selector(eks)
        outputs.vpc_id = net.vpc_id
        if platform.validator_access is not None:
            outputs.validator_access = platform.validator_access.access
        extras["kubeconfig"] = eks.kubeconfig
    return outputs

