"""Device plugins on EKS: which charts, where they run, and that their scheduling fragments are valid
Kubernetes (kubernetes_validate strict, 1.31) once the chart puts them in its DaemonSet."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.device_plugins import (
    EFA_CHART,
    NEURON_CHART,
    NVIDIA_CHART,
    DevicePlugins,
    DevicePluginsArgs,
    efa_values,
    neuron_values,
    nvidia_values,
    plugin_plan,
)
from components.gpu_node_pool import node_labels
from policies.catalogue import catalogue, instance
from stacks.config import GpuPoolConfig
from tests.components.mocks import run_program

RELEASE = "kubernetes:helm.sh/v3:Release"


def daemonset(pod_spec: dict[str, Any]) -> dict[str, Any]:
    """The chart's DaemonSet shape around plinth's scheduling values."""
    labels = {"name": "plugin"}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "plugin", "namespace": "kube-system"},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                "containers": [{"name": "plugin", "image": "plugin:1"}], **pod_spec}}}}


@pytest.mark.parametrize("spec", [
    {"tolerations": nvidia_values()["tolerations"], "affinity": nvidia_values()["affinity"]},
    {"tolerations": efa_values()["tolerations"], "nodeSelector": efa_values()["nodeSelector"]},
    {"tolerations": neuron_values()["devicePlugin"]["tolerations"],
     "nodeSelector": neuron_values()["devicePlugin"]["nodeSelector"]},
], ids=["nvidia", "efa", "neuron"])
def test_scheduling_values_are_valid_kubernetes(spec: dict[str, Any]) -> None:
    kubernetes_validate.validate(daemonset(spec), "1.31.0", strict=True)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def tolerated(tolerations: list[dict[str, str]], taint_key: str) -> bool:
    return any(t.get("key") == taint_key and t.get("operator") == "Exists" and t.get("effect") in (None, "NoSchedule")
               for t in tolerations)


def pool_labels(itype: str, efa: bool) -> dict[str, str]:
    row = instance(itype)
    assert row is not None
    pool = GpuPoolConfig.model_validate({"name": "p", "instanceType": itype, "availabilityZone": "us-east-1a"})
    return node_labels(pool, "cloud-first", row, efa)


def test_plugins_land_only_on_nodes_that_have_the_device() -> None:
    """The values select on the labels the GPU pools set: checked against node_labels, not restated."""
    terms = nvidia_values()["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    [expr] = terms[0]["matchExpressions"]
    assert pool_labels("p5.48xlarge", True)[expr["key"]] in expr["values"]
    assert expr["key"] not in pool_labels("trn1.32xlarge", True)  # no NVIDIA plugin on Trainium
    assert matches(efa_values()["nodeSelector"], pool_labels("p5.48xlarge", True))
    assert not matches(efa_values()["nodeSelector"], pool_labels("p5.48xlarge", False))  # EFA off: no EFA plugin
    assert matches(neuron_values()["devicePlugin"]["nodeSelector"], pool_labels("trn1.32xlarge", True))
    assert not matches(neuron_values()["devicePlugin"]["nodeSelector"], pool_labels("g6e.xlarge", False))


def efa_chart_affinity(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The nodeSelectorTerms aws-efa-k8s-device-plugin's daemonset.yaml renders (v0.5.30): one term
    per supportedInstanceLabels key, ``key In values``, the last one also keeping off EKS Auto Mode."""
    labels = values["supportedInstanceLabels"]
    terms = [{"matchExpressions": [{"key": k, "operator": "In", "values": labels["values"]}]} for k in labels["keys"]]
    terms[-1]["matchExpressions"].append({"key": "eks.amazonaws.com/compute-type", "operator": "NotIn", "values": ["auto"]})
    return terms


def affinity_admits(terms: list[dict[str, Any]], labels: dict[str, str]) -> bool:
    def holds(e: dict[str, Any]) -> bool:
        present = labels.get(e["key"]) in e["values"]
        return present if e["operator"] == "In" else not present
    return any(all(holds(e) for e in t["matchExpressions"]) for t in terms)


def test_efa_plugin_runs_on_every_efa_pool_whatever_the_charts_own_type_list() -> None:
    """The chart's default affinity is its own list of EFA instance types; a catalogue type it lacks
    would get EFA interfaces and no plugin (NCCL silently on TCP). plinth's affinity keys on the pool
    label instead: every catalogue type with EFA is admitted, and a pool without EFA is not."""
    terms = efa_chart_affinity(efa_values())
    efa_types = [name for name, row in catalogue().instances.items() if row.efa_interfaces]
    assert efa_types
    for itype in efa_types:
        assert affinity_admits(terms, pool_labels(itype, True)), itype
    assert not affinity_admits(terms, pool_labels("p5.48xlarge", False))
    kubernetes_validate.validate(daemonset({"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}), "1.31.0", strict=True)


def test_plugins_tolerate_the_taints_of_the_pools_they_serve() -> None:
    assert tolerated(nvidia_values()["tolerations"], "nvidia.com/gpu")
    assert tolerated(efa_values()["tolerations"], "nvidia.com/gpu")  # p5, p4d
    assert tolerated(efa_values()["tolerations"], "aws.amazon.com/neuron")  # trn1.32xlarge
    assert tolerated(neuron_values()["devicePlugin"]["tolerations"], "aws.amazon.com/neuron")
    assert not tolerated(nvidia_values()["tolerations"], "aws.amazon.com/neuron")


@pytest.mark.parametrize(("accelerators", "efa", "charts"), [
    ({"nvidia"}, True, {NVIDIA_CHART, EFA_CHART}),
    ({"nvidia"}, False, {NVIDIA_CHART}),
    ({"neuron"}, True, {NEURON_CHART, EFA_CHART}),
    ({"nvidia", "neuron"}, False, {NVIDIA_CHART, NEURON_CHART}),
    (set(), False, set()),
])
def test_plugin_plan_follows_the_pools(accelerators: set[str], efa: bool, charts: set[str]) -> None:
    assert set(plugin_plan(accelerators, efa)) == charts


def test_component_installs_pinned_releases_in_kube_system_through_the_cluster_provider() -> None:
    def program() -> DevicePlugins:
        provider = k8s.Provider("eks", kubeconfig="{}")
        return DevicePlugins("plugins", DevicePluginsArgs(provider=provider, accelerators={"nvidia", "neuron"}, efa=True),
                             opts=pulumi.ResourceOptions())

    run = run_program(program)
    releases = {r.inputs["name"]: r for r in run.of_type(RELEASE)}
    assert set(releases) == {"nvidia-device-plugin", "aws-efa-k8s-device-plugin", "neuron-device-plugin"}
    nv, efa, neuron = (releases[n].inputs for n in ("nvidia-device-plugin", "aws-efa-k8s-device-plugin", "neuron-device-plugin"))
    assert (nv["chart"], nv["version"], nv["repositoryOpts"]) == (
        "nvidia-device-plugin", "0.19.3", {"repo": "https://nvidia.github.io/k8s-device-plugin"})
    assert (efa["chart"], efa["version"], efa["repositoryOpts"]) == (
        "aws-efa-k8s-device-plugin", "v0.5.30", {"repo": "https://aws.github.io/eks-charts"})
    # the Neuron chart is published as an OCI artifact: addressed by URL, no repository
    assert neuron["chart"] == "oci://public.ecr.aws/neuron/neuron-helm-chart" and "repositoryOpts" not in neuron
    assert all(r.inputs["namespace"] == "kube-system" for r in releases.values())
    provider = run.one("pulumi:providers:kubernetes")
    comp = run.one("plinth:k8s:DevicePlugins")
    assert all(r.provider.startswith(provider.urn) and r.parent == comp.urn for r in releases.values())
