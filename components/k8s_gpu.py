"""GPU enablement on ANY Kubernetes cluster (EKS, on-prem, elsewhere) through an explicit provider.

What it installs: a ``gpu-system`` namespace; either the NVIDIA device plugin DaemonSet (raw objects,
hardened) or, when ``gpuOperator: true``, the NVIDIA GPU Operator Helm release — never both, they would
fight over ``nvidia.com/gpu``; the ``nvidia`` RuntimeClass (only without the operator: the operator's
ClusterPolicy controller creates and owns it, so plinth pins its name in the chart values instead);
one namespace + ResourceQuota on
``requests.nvidia.com/gpu`` per team; PriorityClasses ``plinth-inference`` (higher: latency-bound) and
``plinth-training`` (preemptible by inference, checkpointing jobs restart).

Usage (hybrid: an existing cluster; cloud-first: the EKS cluster's provider)::

    from components.k8s_gpu import KubernetesGpuEnablement, KubernetesGpuEnablementArgs

    provider = k8s.Provider("onprem", kubeconfig=..., context=cfg.kubernetes.context)
    KubernetesGpuEnablement(f"{cfg.prefix}-gpu", KubernetesGpuEnablementArgs(
        provider=provider, config=cfg.kubernetes, driver_preinstalled=False))
    # EKS AL2023 NVIDIA AMIs ship the driver and container toolkit: pass driver_preinstalled=True there.

Every object is built by a pure ``*_manifest`` function (tested with ``kubernetes_validate`` strict);
the component feeds exactly those dicts to the typed pulumi_kubernetes resources. Objects listed in
``config.existing`` are adopted through Patch resources instead (:mod:`components.k8s_adopt`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.k8s_adopt import check_existing, declare_patch, operator_preinstalled, ref_of
from policies.errors import ConfigError
from stacks.config import KubernetesConfig, TeamQuota

NAMESPACE = "gpu-system"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_OPERATOR_CHART = "gpu-operator"
GPU_OPERATOR_REPO = "https://helm.ngc.nvidia.com/nvidia"
MANAGED_BY = {"app.kubernetes.io/managed-by": "plinth"}
RUNTIME_CLASS = "nvidia"
DEVICE_PLUGIN_NAME = "nvidia-device-plugin"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# PriorityClass values: far below system-* (2e9), inference above training so serving preempts training.
PRIORITIES = {
    "plinth-inference": (100_000, "Latency-bound inference: may preempt training pods."),
    "plinth-training": (10_000, "Training jobs (checkpoint regularly: inference may preempt them)."),
}
# Nodes that carry NVIDIA GPUs, as different installers label them (terms are ORed):
# plinth's EKS pools, GPU Feature Discovery, and Node Feature Discovery's PCI vendor (0x10de = NVIDIA).
DEFAULT_GPU_NODE_TERMS: list[dict[str, Any]] = [
    {"matchExpressions": [{"key": "plinth.dev/accelerator", "operator": "In", "values": ["nvidia"]}]},
    {"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]},
    {"matchExpressions": [{"key": "feature.node.kubernetes.io/pci-10de.present", "operator": "In", "values": ["true"]}]},
]


def namespace_manifest(name: str, pod_security: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A namespace with its Pod Security Admission level (``privileged`` for gpu-system: hostPath)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {**MANAGED_BY, **(labels or {}), "pod-security.kubernetes.io/enforce": pod_security},
        },
    }


def device_plugin_daemonset_manifest(
    image: str, namespace: str = NAMESPACE, node_selector_terms: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The NVIDIA device plugin (upstream nvidia-device-plugin.yml, hardened): it only needs the
    kubelet's device-plugin socket directory, so no privilege, no capabilities."""
    labels = {"app.kubernetes.io/name": DEVICE_PLUGIN_NAME}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": DEVICE_PLUGIN_NAME, "namespace": namespace, "labels": {**labels, **MANAGED_BY}},
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": node_selector_terms or DEFAULT_GPU_NODE_TERMS
                            }
                        }
                    },
                    "containers": [
                        {
                            "name": "nvidia-device-plugin-ctr",
                            "image": image,
                            # Don't crash-loop on a node whose driver isn't ready yet: report 0 GPUs.
                            "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                            "volumeMounts": [{"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"}],
                        }
                    ],
                    "volumes": [
                        {"name": "device-plugin", "hostPath": {"path": "/var/lib/kubelet/device-plugins", "type": "Directory"}}
                    ],
                },
            },
        },
    }


def runtime_class_manifest() -> dict[str, Any]:
    """``runtimeClassName: nvidia`` selects the NVIDIA container runtime configured in containerd."""
    return {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": RUNTIME_CLASS, "labels": dict(MANAGED_BY)},
        "handler": RUNTIME_CLASS,
    }


def team_namespace_manifest(team: TeamQuota) -> dict[str, Any]:
    return namespace_manifest(team.name, "baseline", {"plinth.dev/team": team.name})


def team_quota_manifest(team: TeamQuota) -> dict[str, Any]:
    """Extended resources are only quota-able as ``requests.<name>`` (no overcommit for GPUs)."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "gpu-quota", "namespace": team.name, "labels": dict(MANAGED_BY)},
        "spec": {"hard": {f"requests.{GPU_RESOURCE}": str(team.gpus)}},
    }


def priority_class_manifests() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name, "labels": dict(MANAGED_BY)},
            "value": value,
            "globalDefault": False,
            "preemptionPolicy": "PreemptLowerPriority",
            "description": description,
        }
        for name, (value, description) in PRIORITIES.items()
    ]


def gpu_operator_values(driver_preinstalled: bool) -> dict[str, Any]:
    """Helm values: where the node image already has the driver and toolkit (EKS AL2023 NVIDIA AMIs),
    the operator must not install its own on top. ``operator.runtimeClass`` (chart default ``nvidia``)
    is the RuntimeClass the operator creates: pinned so workloads can rely on the name."""
    values: dict[str, Any] = {"operator": {"runtimeClass": RUNTIME_CLASS}}
    if driver_preinstalled:
        values.update({"driver": {"enabled": False}, "toolkit": {"enabled": False}})
    return values


def manifests(config: KubernetesConfig, namespace: str = NAMESPACE,
              node_selector_terms: list[dict[str, Any]] | None = None,
              device_plugin: bool = True) -> list[dict[str, Any]]:
    """Every raw object the component creates for ``config`` (the Helm release aside), in apply order."""
    seen = {namespace}
    for i, team in enumerate(config.teams):
        if not _DNS_LABEL.match(team.name):
            raise ConfigError(f"plinth:kubernetes.teams[{i}].name: {team.name!r} is not a valid namespace name "
                              "(lowercase letters, digits and '-', at most 63 characters)")
        if team.name in seen:
            raise ConfigError(f"plinth:kubernetes.teams[{i}].name: namespace {team.name!r} is used twice")
        seen.add(team.name)
    objs = [namespace_manifest(namespace, "privileged")]
    if not config.gpu_operator:
        if device_plugin:
            objs.append(device_plugin_daemonset_manifest(config.device_plugin_image, namespace, node_selector_terms))
        objs.append(runtime_class_manifest())  # with the operator, its ClusterPolicy owns RuntimeClass nvidia
    objs += priority_class_manifests()
    for team in config.teams:
        objs += [team_namespace_manifest(team), team_quota_manifest(team)]
    return objs


@dataclass
class KubernetesGpuEnablementArgs:
    provider: k8s.Provider
    config: KubernetesConfig
    namespace: str = NAMESPACE
    driver_preinstalled: bool = False  # True on EKS accelerated AMIs
    node_selector_terms: list[dict[str, Any]] | None = None  # None: DEFAULT_GPU_NODE_TERMS
    operator_values: dict[str, Any] = field(default_factory=dict)  # merged over gpu_operator_values()
    # False where the device plugin comes from elsewhere (on EKS: the pinned Helm chart of
    # components.device_plugins); the GPU Operator, when on, still brings its own.
    device_plugin: bool = True


def resource_name(prefix: str, obj: dict[str, Any]) -> str:
    """The Pulumi name of a Kubernetes object from a manifest: prefix, kind, namespace, name."""
    meta = obj["metadata"]
    scope = f"{meta['namespace']}-" if "namespace" in meta else ""
    return f"{prefix}-{obj['kind'].lower()}-{scope}{meta['name']}"


class KubernetesGpuEnablement(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    gpu_operator: bool
    adopted: list[str]  # refs of the objects patched rather than created

    def __init__(self, name: str, args: KubernetesGpuEnablementArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("plinth:k8s:GpuEnablement", name, None, opts)
        cfg = args.config
        objs = manifests(cfg, args.namespace, args.node_selector_terms, args.device_plugin)
        adopted = check_existing(cfg.existing, objs, cfg.gpu_operator)
        created: dict[str, pulumi.Resource] = {}
        namespaces: dict[str, pulumi.Resource] = {}

        for obj in objs:
            res_name = resource_name(name, obj)
            ns = obj["metadata"].get("namespace")
            # Namespaced objects wait for their namespace (the provider alone doesn't order them).
            deps = [namespaces[ns]] if ns in namespaces else []
            o = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=deps)
            kind, meta = obj["kind"], obj["metadata"]
            res: pulumi.Resource
            if ref_of(obj) in adopted:  # already on the cluster: patch plinth's fields onto it
                res = declare_patch(res_name, obj, o)
                if kind == "Namespace":
                    namespaces[meta["name"]] = res
            elif kind == "Namespace":
                res = k8s.core.v1.Namespace(res_name, metadata=meta, opts=o)
                namespaces[meta["name"]] = res
            elif kind == "DaemonSet":
                res = k8s.apps.v1.DaemonSet(res_name, metadata=meta, spec=obj["spec"], opts=o)
            elif kind == "RuntimeClass":
                res = k8s.node.v1.RuntimeClass(res_name, metadata=meta, handler=obj["handler"], opts=o)
            elif kind == "PriorityClass":
                res = k8s.scheduling.v1.PriorityClass(
                    res_name, metadata=meta, value=obj["value"], global_default=obj["globalDefault"],
                    preemption_policy=obj["preemptionPolicy"], description=obj["description"], opts=o)
            elif kind == "ResourceQuota":
                res = k8s.core.v1.ResourceQuota(res_name, metadata=meta, spec=obj["spec"], opts=o)
            else:  # pragma: no cover - manifests() only yields the kinds above
                raise ValueError(f"unhandled kind {kind}")
            created[res_name] = res

        self.gpu_operator = cfg.gpu_operator
        if cfg.gpu_operator and not operator_preinstalled(cfg.existing):
            values = {**gpu_operator_values(args.driver_preinstalled), **args.operator_values}
            k8s.helm.v3.Release(
                f"{name}-gpu-operator",
                chart=GPU_OPERATOR_CHART,
                version=cfg.gpu_operator_version,
                namespace=args.namespace,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=GPU_OPERATOR_REPO),
                values=values,
                # The operator's own pods are privileged: they live in gpu-system (PSA privileged).
                opts=pulumi.ResourceOptions(parent=self, provider=args.provider,
                                            depends_on=[namespaces[args.namespace]]),
            )

        self.namespace = pulumi.Output.from_input(args.namespace)
        self.resources = created
        self.adopted = sorted(str(r) for r in adopted)
        self.register_outputs({"namespace": self.namespace, "gpu_operator": cfg.gpu_operator,
                               "objects": sorted(created), "adopted": self.adopted})
