"""Cluster Autoscaler: GPU pools scale up from 0 when pods wait for them and back down when idle.

Why Cluster Autoscaler and not Karpenter: plinth's pools are EKS managed node groups, as in the
reference build (terraform-aws-eks-blueprints ``nvidia-gpu-efa`` / ``ml-capacity-block``): one
launch template per pool declares every EFA interface and the cluster placement group, and a
managed node group takes ``capacityType: CAPACITY_BLOCK``. Cluster Autoscaler only moves each
group's desired size inside [minSize, maxSize], so all of that stays as declared. Karpenter would
replace the node groups with NodePools/EC2NodeClasses, whose placement-group support is absent
(EFA pools lose the one-spine guarantee) and whose CRDs the offline checks here cannot validate.

How it works with managed node groups (kubernetes/autoscaler ``cloudprovider/aws/README.md``):

- discovery: EKS tags each node group's Auto Scaling group with ``k8s.io/cluster-autoscaler/enabled``
  and ``k8s.io/cluster-autoscaler/<cluster>``; the chart's ``autoDiscovery.clusterName`` matches them;
- scale from 0: with no node to copy, the autoscaler reads the group's labels, taints and extended
  resources from ``k8s.io/cluster-autoscaler/node-template/...`` tags on the ASG. EKS does not copy
  node-group labels/taints there (aws/containers-roadmap#608), and ``eks:DescribeNodegroup`` is only
  consulted until the group first had nodes, so plinth writes the tags itself (:func:`node_template_tags`);
  GPU counts come from the instance type, EFA and Neuron devices need a ``resources/`` tag;
- GPU nodes carry ``k8s.amazonaws.com/accelerator``: without it the autoscaler counts a new GPU node
  as unready until the device plugin advertises its GPUs and scales up again meanwhile;
- scale down: idle nodes leave after ``scale-down-unneeded-time``; a GPU node counts as idle below
  ``scale-down-gpu-utilization-threshold`` of its GPUs requested (0.3: ARCHITECTURE's "scale down
  below 30%").

IAM (least privilege, EKS Pod Identity on ``kube-system/cluster-autoscaler`` of this cluster only, by
its session tags): read-only describes on
``*`` (they take no resource-level permissions), and SetDesiredCapacity /
TerminateInstanceInAutoScalingGroup only on groups tagged for this cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.node_template import pod_identity_role_trust
from policies.eks_pins import pins

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
TEMPLATE_PREFIX = "k8s.io/cluster-autoscaler/node-template"
GPU_SCALE_DOWN_THRESHOLD = "0.3"
_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def node_template_tags(labels: dict[str, str], taints: list[tuple[str, str, str]],
                       resources: dict[str, int]) -> dict[str, str]:
    """ASG tags describing a node the group would launch: labels, taints (EKS effect names such as
    ``NO_SCHEDULE`` are written the Kubernetes way) and extended resources."""
    tags = {f"{TEMPLATE_PREFIX}/label/{k}": v for k, v in labels.items()}
    for key, value, effect in taints:
        tags[f"{TEMPLATE_PREFIX}/taint/{key}"] = f"{value}:{_EFFECTS.get(effect, effect)}"
    for name, count in resources.items():
        if count > 0:
            tags[f"{TEMPLATE_PREFIX}/resources/{name}"] = str(count)
    return tags


def autoscaler_policy(cluster_name: str) -> dict[str, Any]:
    """The "full features" policy of the autoscaler's AWS README, with the two mutating actions
    restricted to this cluster's groups by the tag EKS puts on them."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Describe",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                    "eks:DescribeNodegroup",
                ],
                "Resource": "*",
            },
            {
                "Sid": "ScaleThisClustersGroups",
                "Effect": "Allow",
                "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}},
            },
        ],
    }


def autoscaler_values(cluster_name: str, region: str, image_tag: str, node_selector: dict[str, str]) -> dict[str, Any]:
    """Helm values for the kubernetes/autoscaler chart (keys checked against its values.yaml)."""
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "image": {"tag": image_tag},
        "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
        # On the untainted system nodes: never on a GPU node it might scale away.
        "nodeSelector": node_selector,
        "extraArgs": {
            "expander": "least-waste",
            "balance-similar-node-groups": "true",
            "skip-nodes-with-system-pods": "false",
            "scale-down-unneeded-time": "10m",
            "scale-down-gpu-utilization-threshold": GPU_SCALE_DOWN_THRESHOLD,
        },
    }


@dataclass
class ClusterAutoscalerArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    region: str
    provider: k8s.Provider
    node_selector: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    depends_on: list[pulumi.Resource] = field(default_factory=list)  # the Pod Identity agent, system nodes


class ClusterAutoscaler(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        image_tag = pins().autoscaler_tag(args.kubernetes_version)  # a ConfigError before anything exists
        chart = pins().chart("cluster-autoscaler")
        super().__init__("plinth:compute:ClusterAutoscaler", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        caller = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        role = aws.iam.Role(f"{name}-role", tags=args.tags, opts=child, assume_role_policy=pod_identity_role_trust(
            caller.account_id, args.cluster_name, NAMESPACE, SERVICE_ACCOUNT))
        policy = aws.iam.RolePolicy(f"{name}-policy", role=role.id, opts=child,
                                    policy=pulumi.Output.from_input(args.cluster_name).apply(
                                        lambda c: json.dumps(autoscaler_policy(c))))
        association = aws.eks.PodIdentityAssociation(
            f"{name}-identity", cluster_name=args.cluster_name, namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT, role_arn=role.arn, tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]))
        values = pulumi.Output.from_input(args.cluster_name).apply(
            lambda c: autoscaler_values(c, args.region, image_tag, args.node_selector))
        k8s.helm.v3.Release(
            f"{name}-release", name="cluster-autoscaler", chart="cluster-autoscaler", version=chart.version,
            namespace=NAMESPACE, repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo), values=values,
            # Pod Identity injects credentials when the pod is created: the association comes first.
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider,
                                        depends_on=[association, *args.depends_on]))
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})
