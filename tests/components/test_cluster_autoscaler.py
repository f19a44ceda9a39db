"""Cluster Autoscaler: least-privilege IAM through EKS Pod Identity, and the chart wired to find this
cluster's node groups and scale idle GPU nodes away."""

from __future__ import annotations

import json

import pulumi_kubernetes as k8s

from components.cluster_autoscaler import (
    ClusterAutoscaler,
    ClusterAutoscalerArgs,
    autoscaler_policy,
    autoscaler_values,
    node_template_tags,
)
from tests.components.mocks import ACCOUNT, run_program


def test_only_this_clusters_groups_can_be_resized() -> None:
    doc = autoscaler_policy("acme-eks")
    describe, scale = doc["Statement"]
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in describe["Action"])
    assert scale["Action"] == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    assert scale["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/acme-eks": "owned"}}
    assert "eks:DescribeNodegroup" in describe["Action"]  # labels/taints of managed groups at 0 nodes
    assert not any("*" in a for s in doc["Statement"] for a in s["Action"])  # no wildcard actions


def test_values_discover_this_cluster_and_scale_down_idle_gpus() -> None:
    v = autoscaler_values("acme-eks", "eu-central-1", "v1.33.6", {"plinth.dev/role": "system"})
    assert v["autoDiscovery"] == {"clusterName": "acme-eks"} and v["awsRegion"] == "eu-central-1"
    assert v["image"] == {"tag": "v1.33.6"}
    assert v["nodeSelector"] == {"plinth.dev/role": "system"}
    assert v["extraArgs"]["scale-down-gpu-utilization-threshold"] == "0.3"  # ARCHITECTURE: scale down below 30%
    assert v["rbac"]["serviceAccount"]["name"] == "cluster-autoscaler"


def test_node_template_tags_translate_eks_taint_effects() -> None:
    tags = node_template_tags({"a": "1"}, [("nvidia.com/gpu", "true", "NO_SCHEDULE"), ("x", "y", "NO_EXECUTE")],
                              {"nvidia.com/gpu": 4, "vpc.amazonaws.com/efa": 0})
    prefix = "k8s.io/cluster-autoscaler/node-template"
    assert tags == {f"{prefix}/label/a": "1", f"{prefix}/taint/nvidia.com/gpu": "true:NoSchedule",
                    f"{prefix}/taint/x": "y:NoExecute", f"{prefix}/resources/nvidia.com/gpu": "4"}


def test_component_binds_the_role_to_the_chart_service_account_before_the_chart() -> None:
    def program() -> ClusterAutoscaler:
        return ClusterAutoscaler("ca", ClusterAutoscalerArgs(
            cluster_name="acme-eks", kubernetes_version="1.33", region="us-east-1",
            provider=k8s.Provider("eks", kubeconfig="{}"), node_selector={"plinth.dev/role": "system"}))

    run = run_program(program)
    role = run.one("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]  # what Pod Identity requires
    # the role scales and terminates nodes: only this cluster's autoscaler service account may assume it
    assert trust["Condition"]["StringEquals"] == {
        "aws:SourceAccount": ACCOUNT, "aws:RequestTag/eks-cluster-name": "acme-eks",
        "aws:RequestTag/kubernetes-namespace": "kube-system",
        "aws:RequestTag/kubernetes-service-account": "cluster-autoscaler"}
    assoc = run.one("aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs
    assert (assoc["namespace"], assoc["serviceAccount"]) == ("kube-system", "cluster-autoscaler")
    release = run.one("kubernetes:helm.sh/v3:Release")
    assert release.inputs["values"]["rbac"]["serviceAccount"]["name"] == assoc["serviceAccount"]
    assert release.inputs["version"] == "9.59.0" and release.inputs["values"]["image"]["tag"] == "v1.33.6"
    # the pod must start after the association exists, or it gets no credentials
    assert run.one("aws:eks/podIdentityAssociation:PodIdentityAssociation").urn in release.dependencies
    policy = json.loads(run.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert policy == autoscaler_policy("acme-eks")
