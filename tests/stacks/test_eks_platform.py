"""cloud_first.eks_platform (shared by cloud-first, hybrid's burst side and edge's central cluster):
what makes the cluster usable, and the order it must come up in. Dependencies are the URNs the engine
would wait for, as the SDK registers them."""

from __future__ import annotations

from typing import Any

import pytest

from stacks import cloud_first
from stacks.config import StackConfig
from tests.components.mocks import Registered, Run, run_program

ADDON = "aws:eks/addon:Addon"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
RELEASE = "kubernetes:helm.sh/v3:Release"
ASSOC = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
TAG = "aws:autoscaling/tag:Tag"

BASE: dict[str, Any] = {
    "strategy": "cloud-first", "prefix": "acme", "tags": {"owner": "t", "cost-center": "c"},
    "cluster": {"endpointPublicAccess": True, "publicAccessCidrs": ["198.51.100.0/24"]},
    "gpuPools": [
        {"name": "train", "instanceType": "p5.48xlarge", "maxSize": 4, "availabilityZone": "us-east-1b"},
        {"name": "infer", "instanceType": "g6e.xlarge", "maxSize": 4, "profile": "real_time_inference"},
    ],
    "lakehouse": {"access": [{"namespace": "research", "serviceAccount": "trainer", "read": ["raw"], "write": ["models"]}]},
}


def build(**changes: Any) -> Run[cloud_first.EksPlatform]:
    cfg = StackConfig.model_validate({**BASE, **changes})
    return run_program(lambda: cloud_first.eks_platform(cfg, cloud_first.network(cfg), cloud_first.lakehouse(cfg)))


@pytest.fixture(scope="module")
def platform() -> Run[cloud_first.EksPlatform]:
    return build()


def named(run: Run[Any], typ: str, name: str) -> Registered:
    return next(r for r in run.of_type(typ) if r.name == name)


def test_coredns_waits_for_the_untainted_system_nodes(platform: Run[cloud_first.EksPlatform]) -> None:
    system = named(platform, NODE_GROUP, "acme-system-ng")
    assert "taints" not in system.inputs
    coredns = next(r for r in platform.of_type(ADDON) if r.inputs["addonName"] == "coredns")
    assert system.urn in coredns.dependencies
    assert {r.inputs["addonName"] for r in platform.of_type(ADDON)} == {"vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns"}


def test_pods_get_credentials_only_once_the_pod_identity_agent_runs(platform: Run[cloud_first.EksPlatform]) -> None:
    agent = next(r for r in platform.of_type(ADDON) if r.inputs["addonName"] == "eks-pod-identity-agent")
    autoscaler = next(r for r in platform.of_type(RELEASE) if r.inputs["chart"] == "cluster-autoscaler")
    assert agent.urn in autoscaler.dependencies
    lake = [a for a in platform.of_type(ASSOC) if a.inputs["namespace"] == "research"]
    assert len(lake) == 1 and agent.urn in lake[0].dependencies


def test_gpu_pools_scale_from_zero_and_efa_is_advertised(platform: Run[cloud_first.EksPlatform]) -> None:
    charts = {r.inputs["chart"] for r in platform.of_type(RELEASE)}
    assert charts == {"nvidia-device-plugin", "aws-efa-k8s-device-plugin", "cluster-autoscaler"}
    tagged_groups = {t.inputs["autoscalingGroupName"] for t in platform.of_type(TAG)}
    assert tagged_groups == {"eks-acme-train-ng-asg", "eks-acme-infer-ng-asg"}  # both pools sit at 0


def test_secrets_use_the_stack_key_and_the_lakehouse_has_a_workload_identity(platform: Run[cloud_first.EksPlatform]) -> None:
    cluster = platform.one("aws:eks/cluster:Cluster").inputs
    key = platform.one("aws:kms/key:Key")
    assert cluster["encryptionConfig"]["provider"]["keyArn"] == f"arn:aws:kms:us-east-1:123456789012:{key.name}"  # the mocks' ARN
    assert platform.value(platform.result.lakehouse_access.role_arns)  # type: ignore[union-attr]


def test_gpu_launch_templates_keep_pods_off_the_node_role(platform: Run[cloud_first.EksPlatform]) -> None:
    limits = {r.name: r.inputs["metadataOptions"]["httpPutResponseHopLimit"]
              for r in platform.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    assert limits == {"acme-train-lt": 1.0, "acme-infer-lt": 1.0, "acme-system-lt": 1.0}


def test_neuron_pool_gets_the_neuron_plugin_and_the_gpu_operator_replaces_the_nvidia_chart() -> None:
    run = build(gpuPools=[{"name": "trn", "instanceType": "trn1.32xlarge", "availabilityZone": "us-east-1a"}],
                kubernetes={"gpuOperator": True})
    charts = {r.inputs["chart"] for r in run.of_type(RELEASE)}
    assert "oci://public.ecr.aws/neuron/neuron-helm-chart" in charts and "aws-efa-k8s-device-plugin" in charts
    run = build(kubernetes={"gpuOperator": True})
    assert "nvidia-device-plugin" not in {r.inputs["chart"] for r in run.of_type(RELEASE)}


def test_autoscaler_off_means_no_chart_and_no_template_tags() -> None:
    run = build(cluster={**BASE["cluster"], "autoscaler": False}, lakehouse={})
    assert "cluster-autoscaler" not in {r.inputs["chart"] for r in run.of_type(RELEASE)}
    assert run.of_type(TAG) == [] and run.of_type(ASSOC) == []
