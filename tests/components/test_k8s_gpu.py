"""GPU enablement on any cluster: manifests validated against the Kubernetes 1.31 schema (strict), and the
component under Pulumi mocks feeding exactly those manifests to typed resources through the given provider."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.k8s_gpu import (
    KubernetesGpuEnablement,
    KubernetesGpuEnablementArgs,
    device_plugin_daemonset_manifest,
    gpu_operator_values,
    manifests,
)
from policies.errors import ConfigError
from stacks.config import KubernetesConfig
from tests.components.mocks import Run, run_program

K8S_VERSION = "1.31.0"
TEAMS = [{"name": "research", "gpus": 16}, {"name": "serving", "gpus": 4}]
DS = "kubernetes:apps/v1:DaemonSet"
RELEASE = "kubernetes:helm.sh/v3:Release"


def config(**kw: Any) -> KubernetesConfig:
    return KubernetesConfig.model_validate({"teams": TEAMS, **kw})


@pytest.mark.parametrize("operator", [False, True])
def test_every_manifest_passes_strict_schema_validation(operator: bool) -> None:
    objs = manifests(config(gpuOperator=operator))
    assert objs
    for obj in objs:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)  # raises on any unknown or wrong field


def test_strict_validation_would_catch_a_typo() -> None:
    """Guard for the test above: the validator really is strict (a misspelt field fails)."""
    bad = device_plugin_daemonset_manifest("img")
    bad["spec"]["template"]["spec"]["priorityClassNme"] = "x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_device_plugin_is_hardened_and_only_lands_on_gpu_nodes() -> None:
    ds = device_plugin_daemonset_manifest("nvcr.io/nvidia/k8s-device-plugin:v0.17.1")
    pod = ds["spec"]["template"]["spec"]
    assert ds["metadata"]["namespace"] == "gpu-system"
    assert pod["priorityClassName"] == "system-node-critical"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    ctr = pod["containers"][0]
    assert ctr["image"] == "nvcr.io/nvidia/k8s-device-plugin:v0.17.1"
    assert ctr["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert "privileged" not in ctr["securityContext"]
    assert pod["volumes"][0]["hostPath"]["path"] == "/var/lib/kubelet/device-plugins"
    assert ctr["volumeMounts"][0]["mountPath"] == "/var/lib/kubelet/device-plugins"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    keys = {t["matchExpressions"][0]["key"] for t in terms}
    assert "plinth.dev/accelerator" in keys and "nvidia.com/gpu.present" in keys


def test_quota_runtime_class_priorities() -> None:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in manifests(config()):
        by_kind.setdefault(obj["kind"], []).append(obj)
    quotas = {q["metadata"]["namespace"]: q["spec"]["hard"] for q in by_kind["ResourceQuota"]}
    assert quotas == {"research": {"requests.nvidia.com/gpu": "16"}, "serving": {"requests.nvidia.com/gpu": "4"}}
    assert [(r["metadata"]["name"], r["handler"]) for r in by_kind["RuntimeClass"]] == [("nvidia", "nvidia")]
    prios = {p["metadata"]["name"]: p["value"] for p in by_kind["PriorityClass"]}
    assert prios["plinth-inference"] > prios["plinth-training"] > 0
    namespaces = {n["metadata"]["name"]: n["metadata"]["labels"] for n in by_kind["Namespace"]}
    assert set(namespaces) == {"gpu-system", "research", "serving"}
    assert namespaces["gpu-system"]["pod-security.kubernetes.io/enforce"] == "privileged"  # hostPath needs it
    assert namespaces["research"]["pod-security.kubernetes.io/enforce"] == "baseline"


def test_operator_path_excludes_the_raw_device_plugin_and_the_runtime_class() -> None:
    """The GPU Operator's ClusterPolicy controller creates RuntimeClass ``operator.runtimeClass``
    (chart default nvidia) and takes it over if it exists (NVIDIA/gpu-operator
    controllers/object_controls.go: transformRuntimeClass): a plinth-made one would be fought over."""
    kinds = [o["kind"] for o in manifests(config(gpuOperator=True))]
    assert "DaemonSet" not in kinds and "RuntimeClass" not in kinds
    kinds = [o["kind"] for o in manifests(config(gpuOperator=False))]
    assert "DaemonSet" in kinds and "RuntimeClass" in kinds


@pytest.mark.parametrize("name", ["Research", "a_b", "gpu-system"])
def test_bad_or_clashing_team_namespace_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match=r"^plinth:kubernetes\.teams\[0\]\.name: "):
        manifests(KubernetesConfig.model_validate({"teams": [{"name": name, "gpus": 1}]}))


def test_operator_values_keep_preinstalled_drivers_and_pin_the_runtime_class_name() -> None:
    pinned = {"operator": {"runtimeClass": "nvidia"}}  # the chart's value key (deployments/gpu-operator/values.yaml)
    assert gpu_operator_values(True) == {**pinned, "driver": {"enabled": False}, "toolkit": {"enabled": False}}
    assert gpu_operator_values(False) == pinned


# the component under Pulumi mocks --------------------------------------------------------------------


def enable(cfg: KubernetesConfig, **kw: Any) -> Run[KubernetesGpuEnablement]:
    def program() -> KubernetesGpuEnablement:
        provider = k8s.Provider("onprem", kubeconfig="{}", context="lab")
        return KubernetesGpuEnablement("plinth-gpu", KubernetesGpuEnablementArgs(provider=provider, config=cfg, **kw))

    return run_program(program)


def _without_type(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


def test_component_feeds_the_validated_manifests_through_the_given_provider() -> None:
    cfg = config()
    run = enable(cfg)
    comp = run.one("plinth:k8s:GpuEnablement")
    provider = run.one("pulumi:providers:kubernetes")
    k8s_objs = [r for r in run.resources if r.type.startswith("kubernetes:")]
    assert len(k8s_objs) == len(manifests(cfg))
    for r in k8s_objs:
        assert r.parent == comp.urn
        assert r.provider.startswith(provider.urn)  # "<urn>::<id>": the explicit provider, never the default
    ds = run.one(DS)
    expected = device_plugin_daemonset_manifest(cfg.device_plugin_image)
    assert _without_type(ds.inputs) == _without_type(expected)
    assert run.of_type(RELEASE) == []
    # namespaced objects wait for their namespace
    ns_urns = {r.inputs["metadata"]["name"]: r.urn for r in run.of_type("kubernetes:core/v1:Namespace")}
    assert ns_urns["gpu-system"] in ds.dependencies
    quota = next(r for r in run.of_type("kubernetes:core/v1:ResourceQuota") if r.inputs["metadata"]["namespace"] == "research")
    assert ns_urns["research"] in quota.dependencies
    prio = {r.inputs["metadata"]["name"]: r.inputs for r in run.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")}
    assert prio["plinth-training"]["preemptionPolicy"] == "PreemptLowerPriority"
    assert run.one("kubernetes:node.k8s.io/v1:RuntimeClass").inputs["handler"] == "nvidia"
    assert run.value(run.result.namespace) == "gpu-system"


def test_component_operator_path_installs_the_helm_release_and_no_daemonset() -> None:
    run = enable(config(gpuOperator=True, gpuOperatorVersion="v25.3.0"), driver_preinstalled=True)
    assert run.of_type(DS) == []
    rel = run.one(RELEASE).inputs
    assert rel["chart"] == "gpu-operator"
    assert rel["version"] == "v25.3.0"
    assert rel["namespace"] == "gpu-system"
    assert rel["repositoryOpts"] == {"repo": "https://helm.ngc.nvidia.com/nvidia"}
    assert rel["values"] == {"operator": {"runtimeClass": "nvidia"}, "driver": {"enabled": False},
                             "toolkit": {"enabled": False}}
    assert run.of_type("kubernetes:node.k8s.io/v1:RuntimeClass") == []  # the operator owns it


def test_component_on_an_eks_cluster_provider() -> None:
    """The same component on the EKS cluster's provider (cloud-first): it only needs a Provider."""
    from components.eks_cluster import EksCluster, EksClusterArgs
    from stacks.config import ClusterConfig

    def program() -> KubernetesGpuEnablement:
        eks = EksCluster("plinth-eks", EksClusterArgs(cluster=ClusterConfig(), subnet_ids=["s-a", "s-b"]))
        return KubernetesGpuEnablement("gpu", KubernetesGpuEnablementArgs(
            provider=eks.k8s_provider, config=KubernetesConfig(), driver_preinstalled=True),
            opts=pulumi.ResourceOptions(parent=eks))

    run = run_program(program)
    provider = run.one("pulumi:providers:kubernetes")
    assert provider.name == "plinth-eks-k8s"
    assert run.one(DS).provider.startswith(provider.urn)
