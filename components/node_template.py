"""What every plinth EKS node launches with: its IAM role, instance metadata options, root volume and
nodeadm user data. Shared by the GPU pools (:mod:`components.gpu_node_pool`) and the system node
group (:mod:`components.system_node_group`).

- IMDSv2 only, hop limit 1: a pod (one network hop further than the node) cannot fetch the node
  role's credentials. Workloads get AWS credentials from EKS Pod Identity instead. What still talks to
  IMDS from a pod runs in the host network namespace (no extra hop): aws-node (vpc-cni) and
  kube-proxy, the Pod Identity agent itself, and the EFA device plugin; the NVIDIA and Neuron
  device plugins and CoreDNS never call AWS. (EKS best practices, "Restrict access to the instance
  profile assigned to the worker node".)
- Local NVMe: on instance types with instance store, nodeadm assembles the disks into a RAID0 array
  and puts containerd and the kubelet on it (``NodeConfig.spec.instance.localStorage.strategy:
  RAID0``, the AL2023 nodeadm API; the terraform-aws-eks-blueprints ``nvidia-gpu-efa`` pattern does
  the same), so multi-GB training images and emptyDir scratch don't land on the EBS root volume.
  A managed node group merges this MIME part with the bootstrap part EKS adds.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from policies.catalogue import InstanceType

NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    # aws-node (vpc-cni) runs on the host network and takes the node role through IMDS (hop limit 1
    # suffices there); the pods themselves cannot.
    "AmazonEKS_CNI_Policy",
    "AmazonSSMManagedInstanceCore",  # shell access without SSH keys or open ports
)
ROOT_DEVICE = "/dev/xvda"  # AL2023 EKS AMIs boot from xvda
IMDS_HOP_LIMIT = 1
_BOUNDARY = "==PLINTH=="


def managed_policy_arn(policy: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::aws:policy/{policy}"


def assume_role_policy(service: str) -> str:
    """Trust policy letting an AWS service assume a role. EKS (cluster role) and EKS Pod Identity
    (``pods.eks.amazonaws.com``) tag their sessions, so those also need sts:TagSession."""
    actions: str | list[str] = ["sts:AssumeRole", "sts:TagSession"] if service.endswith("eks.amazonaws.com") else "sts:AssumeRole"
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}],
    })


def pod_identity_trust_policy(account_id: str, cluster_name: str, namespace: str, service_account: str) -> dict[str, Any]:
    """Trust policy of a role only EKS Pod Identity may assume, and only for one service account of one
    cluster in this account. Pod Identity tags each session with ``eks-cluster-name``,
    ``kubernetes-namespace`` and ``kubernetes-service-account`` (EKS user guide, "Create IAM role with
    trust policy required by EKS Pod Identity", Setting Conditions): without these conditions any Pod
    Identity association in the account could be pointed at the role."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "EksPodIdentityForOneServiceAccount",
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {
            "aws:SourceAccount": account_id,
            "aws:RequestTag/eks-cluster-name": cluster_name,
            "aws:RequestTag/kubernetes-namespace": namespace,
            "aws:RequestTag/kubernetes-service-account": service_account,
        }},
    }]}


def pod_identity_role_trust(account_id: pulumi.Input[str], cluster_name: pulumi.Input[str], namespace: str,
                            service_account: str) -> pulumi.Output[str]:
    """:func:`pod_identity_trust_policy` as the JSON a role's ``assume_role_policy`` takes."""
    return pulumi.Output.all(account_id, cluster_name).apply(
        lambda v: json.dumps(pod_identity_trust_policy(v[0], v[1], namespace, service_account)))


def wants_local_storage(itype: InstanceType) -> bool:
    return itype.nvme_disks > 0


def node_config_user_data(local_storage: bool) -> str | None:
    """The launch template's user data (base64 of a MIME multi-part document with one nodeadm
    NodeConfig), or None when the node needs nothing beyond what EKS adds."""
    if not local_storage:
        return None
    node_config = (
        "---\n"
        "apiVersion: node.eks.aws/v1alpha1\n"
        "kind: NodeConfig\n"
        "spec:\n"
        "  instance:\n"
        "    localStorage:\n"
        "      strategy: RAID0\n"
    )
    document = (
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="{_BOUNDARY}"\n'
        "\n"
        f"--{_BOUNDARY}\n"
        "Content-Type: application/node.eks.aws\n"
        "\n"
        f"{node_config}"
        "\n"
        f"--{_BOUNDARY}--\n"
    )
    return base64.b64encode(document.encode()).decode()


def metadata_options() -> aws.ec2.LaunchTemplateMetadataOptionsArgs:
    return aws.ec2.LaunchTemplateMetadataOptionsArgs(
        http_endpoint="enabled",
        http_tokens="required",  # IMDSv2 only
        http_put_response_hop_limit=IMDS_HOP_LIMIT,
    )


def root_volume(size_gb: int) -> list[aws.ec2.LaunchTemplateBlockDeviceMappingArgs]:
    return [aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
        device_name=ROOT_DEVICE,
        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            volume_size=size_gb, volume_type="gp3", encrypted="true", delete_on_termination="true"),
    )]


def node_role(name: str, parent: pulumi.Resource, tags: dict[str, str], partition: str = "aws",
              policies: Sequence[str] = NODE_POLICIES) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """The node IAM role and its managed-policy attachments (the node group must wait for them)."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(f"{name}-node-role", assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
                        tags=tags, opts=child)
    attachments = [
        aws.iam.RolePolicyAttachment(f"{name}-{policy}", role=role.name,
                                     policy_arn=managed_policy_arn(policy, partition), opts=child)
        for policy in policies
    ]
    return role, attachments
