"""Device plugins on EKS: the NVIDIA device plugin (``nvidia.com/gpu``), the AWS EFA device plugin
(``vpc.amazonaws.com/efa``) and the Neuron device plugin (``aws.amazon.com/neuron``), each a pinned
Helm release in kube-system, each tolerating the accelerator taints and scheduled only where its
device is.

Without the EFA plugin the interfaces are attached but no pod can request them: NCCL's aws-ofi-nccl
finds no device and silently falls back to TCP sockets. The placement and tolerations follow the
reference builds (terraform-aws-eks-blueprints ``nvidia-gpu-efa`` / ``ml-capacity-block``: NVIDIA
plugin on ``nvidia.com/gpu.present=true``, EFA plugin on ``vpc.amazonaws.com/efa.present=true`` with
the GPU toleration); the GPU pools set those labels (:func:`components.gpu_node_pool.node_labels`).
None of these plugins calls an AWS API, so the nodes' IMDS hop limit of 1 does not concern them
(the EFA plugin runs on the host network anyway).

Every value key plinth sets is checked against each chart's values.yaml at the pinned version
(tests/components/test_helm_values.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from policies.eks_pins import pins

NAMESPACE = "kube-system"
NVIDIA_CHART = "nvidia-device-plugin"
EFA_CHART = "aws-efa-k8s-device-plugin"
NEURON_CHART = "neuron-helm-chart"
GPU_TAINT = "nvidia.com/gpu"
NEURON_TAINT = "aws.amazon.com/neuron"


def _tolerate(*keys: str) -> list[dict[str, str]]:
    return [{"key": key, "operator": "Exists", "effect": "NoSchedule"} for key in keys]


def nvidia_values() -> dict[str, Any]:
    return {
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}, *_tolerate(GPU_TAINT)],
        # Only nodes that have NVIDIA GPUs (EKS has no NFD labels; plinth's pools set this one).
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]},
        ]}}},
        "gfd": {"enabled": False},
    }


EFA_LABEL = "vpc.amazonaws.com/efa.present"


def efa_values() -> dict[str, Any]:
    # EFA pools are GPU or Trainium pools: tolerate both taints; run only where EFA is attached.
    return {
        "tolerations": _tolerate(GPU_TAINT, NEURON_TAINT),
        "nodeSelector": {EFA_LABEL: "true"},
        # The chart also requires node.kubernetes.io/instance-type to be in its own list of EFA types
        # (supportedInstanceLabels, rendered as a required node affinity). A type the hardware
        # catalogue gains before the pinned chart lists it would get EFA interfaces and no plugin,
        # and NCCL would fall back to TCP without an error. The affinity keys on the label plinth
        # puts on exactly the pools that have EFA interfaces instead.
        "supportedInstanceLabels": {"keys": [EFA_LABEL], "values": ["true"]},
    }


def neuron_values() -> dict[str, Any]:
    return {
        "devicePlugin": {
            "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}, *_tolerate(NEURON_TAINT)],
            "nodeSelector": {"plinth.dev/accelerator": "neuron"},
        },
        "scheduler": {"enabled": False},
    }


def plugin_plan(accelerators: set[str], efa: bool) -> dict[str, dict[str, Any]]:
    """Chart name -> values for the devices the cluster's pools have."""
    plan: dict[str, dict[str, Any]] = {}
    if "nvidia" in accelerators:
        plan[NVIDIA_CHART] = nvidia_values()
    if "neuron" in accelerators:
        plan[NEURON_CHART] = neuron_values()
    if efa:
        plan[EFA_CHART] = efa_values()
    return plan


RELEASE_NAMES = {NVIDIA_CHART: "nvidia-device-plugin", EFA_CHART: "aws-efa-k8s-device-plugin",
                 NEURON_CHART: "neuron-device-plugin"}


@dataclass
class DevicePluginsArgs:
    provider: k8s.Provider
    accelerators: set[str]  # "nvidia", "neuron": the accelerators of the cluster's pools
    efa: bool  # some pool has EFA interfaces


class DevicePlugins(pulumi.ComponentResource):
    releases: dict[str, k8s.helm.v3.Release]

    def __init__(self, name: str, args: DevicePluginsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("plinth:k8s:DevicePlugins", name, None, opts)
        self.releases = {}
        for chart_name, values in plugin_plan(args.accelerators, args.efa).items():
            chart = pins().chart(chart_name)
            # An OCI chart is addressed by URL and has no repository to add.
            self.releases[chart_name] = k8s.helm.v3.Release(
                f"{name}-{RELEASE_NAMES[chart_name]}", name=RELEASE_NAMES[chart_name], version=chart.version,
                chart=f"{chart.repo}/{chart_name}" if chart.oci else chart_name,
                repository_opts=None if chart.oci else k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
                namespace=NAMESPACE, values=values,
                opts=pulumi.ResourceOptions(parent=self, provider=args.provider))
        self.register_outputs({"charts": sorted(self.releases)})
