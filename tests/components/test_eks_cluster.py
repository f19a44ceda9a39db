"""EksCluster under Pulumi mocks, and its pure kubeconfig renderer."""

from __future__ import annotations

import json

import pytest
from pulumi.runtime.sync_await import _sync_await

from components.eks_cluster import (
    EksCluster,
    EksClusterArgs,
    caller_role_arn,
    render_kubeconfig,
    same_principal,
)
from stacks.config import ClusterConfig
from tests.components.mocks import Run, run_program

CLUSTER = "aws:eks/cluster:Cluster"


def build(**cluster: object) -> Run[EksCluster]:
    cfg = ClusterConfig.model_validate(cluster)
    return run_program(lambda: EksCluster("plinth-eks", EksClusterArgs(
        cluster=cfg, subnet_ids=["subnet-a", "subnet-b"], region="eu-west-1", tags={"team": "ml"})))


def test_cluster_is_private_api_authenticated_and_versioned() -> None:
    run = build(version="1.32")
    c = run.one(CLUSTER).inputs
    assert c["version"] == "1.32"
    assert c["vpcConfig"]["subnetIds"] == ["subnet-a", "subnet-b"]
    assert c["vpcConfig"]["endpointPrivateAccess"] is True
    assert c["vpcConfig"]["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in c["vpcConfig"]
    assert c["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True}
    assert "audit" in c["enabledClusterLogTypes"]
    role = run.one("aws:iam/role:Role")
    assert c["roleArn"] == f"arn:aws:iam::123456789012:role/{role.name}"
    assert "eks.amazonaws.com" in role.inputs["assumeRolePolicy"]
    attach = run.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attach.inputs["policyArn"] == "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
    assert attach.urn in run.one(CLUSTER).dependencies
    assert run.of_type("aws:eks/accessEntry:AccessEntry") == []


def test_public_endpoint_limited_to_configured_cidrs() -> None:
    c = build(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24"]).one(CLUSTER).inputs
    assert c["vpcConfig"]["endpointPublicAccess"] is True
    assert c["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_admin_role_gets_an_access_entry_with_cluster_admin() -> None:
    arn = "arn:aws:iam::123456789012:role/platform-admin"
    run = build(adminRoleArn=arn)
    entry = run.one("aws:eks/accessEntry:AccessEntry").inputs
    assert entry["principalArn"] == arn and entry["type"] == "STANDARD"
    assoc = run.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert assoc.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert assoc.inputs["accessScope"] == {"type": "cluster"}
    # the Kubernetes provider is only used once the admin can actually get in
    assert assoc.urn in run.one("pulumi:providers:kubernetes").dependencies


def test_kubeconfig_is_secret_and_uses_get_token() -> None:
    run = build()
    comp = run.one("plinth:compute:EksCluster")
    assert all(r.parent == comp.urn for r in run.resources if r is not comp)
    assert _sync_await(run.result.kubeconfig.is_secret()) is True
    kube = json.loads(run.value(run.result.kubeconfig))
    exec_ = kube["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"] == ["eks", "get-token", "--cluster-name", "plinth-eks-cluster", "--output", "json",
                             "--region", "eu-west-1"]
    assert kube["clusters"][0]["cluster"]["server"] == run.value(run.result.endpoint)
    assert run.value(run.result.cluster_name) == "plinth-eks-cluster"
    assert run.value(run.result.cluster_security_group_id) == "sg-plinth-eks-cluster-cluster"
    assert run.one("pulumi:providers:kubernetes").name == "plinth-eks-k8s"


def test_render_kubeconfig_without_region_leaves_it_to_the_cli() -> None:
    kube = render_kubeconfig("c", "https://x", "Q0E=")
    assert "--region" not in kube["users"][0]["user"]["exec"]["args"]
    assert kube["current-context"] == "c"
    assert kube["clusters"][0]["cluster"]["certificate-authority-data"] == "Q0E="


# endpoint, secrets, admin entries ---------------------------------------------------------------------


@pytest.mark.parametrize(("caller", "role"), [
    ("arn:aws:sts::123456789012:assumed-role/Deploy/ci-42", "arn:aws:iam::123456789012:role/Deploy"),
    ("arn:aws-us-gov:sts::123456789012:assumed-role/Deploy/s", "arn:aws-us-gov:iam::123456789012:role/Deploy"),
    ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/alice"),
])
def test_caller_maps_an_assumed_role_session_to_its_role(caller: str, role: str) -> None:
    assert caller_role_arn(caller) == role


def test_same_principal_ignores_the_role_path_a_session_arn_lacks() -> None:
    session = "arn:aws:sts::123456789012:assumed-role/Deploy/ci-42"
    assert same_principal("arn:aws:iam::123456789012:role/Deploy", session)
    assert same_principal("arn:aws:iam::123456789012:role/teams/ml/Deploy", session)
    assert not same_principal("arn:aws:iam::123456789012:role/Admin", session)
    assert not same_principal("arn:aws:iam::999999999999:role/Deploy", session)
    assert not same_principal("arn:aws:iam::123456789012:user/Deploy", session)


def test_admin_role_that_is_the_deployer_gets_no_duplicate_entry() -> None:
    """EKS already made the creator's entry (bootstrapClusterCreatorAdminPermissions); a second one for
    the same principal fails the deploy with 409 ResourceInUseException."""
    cfg = ClusterConfig.model_validate({"adminRoleArn": "arn:aws:iam::123456789012:role/Deploy"})
    session = {"accountId": "123456789012", "arn": "arn:aws:sts::123456789012:assumed-role/Deploy/ci", "userId": "AROA:ci"}
    run = run_program(lambda: EksCluster("plinth-eks", EksClusterArgs(cluster=cfg, subnet_ids=["a", "b"])),
                      calls={"aws:index/getCallerIdentity:getCallerIdentity": lambda _a: session})
    assert run.of_type("aws:eks/accessEntry:AccessEntry") == []
    assert run.one(CLUSTER).inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is True


def test_secrets_are_envelope_encrypted_with_the_stack_key_the_cluster_role_may_use() -> None:
    key = "arn:aws:kms:eu-west-1:123456789012:key/abcd"
    run = run_program(lambda: EksCluster("plinth-eks", EksClusterArgs(
        cluster=ClusterConfig(), subnet_ids=["a", "b"], secrets_kms_key_arn=key)))
    c = run.one(CLUSTER)
    assert c.inputs["encryptionConfig"] == {"resources": ["secrets"], "provider": {"keyArn": key}}
    grant = run.one("aws:iam/rolePolicy:RolePolicy")
    doc = json.loads(grant.inputs["policy"])["Statement"][0]
    assert doc["Resource"] == key and "kms:Decrypt" in doc["Action"] and "kms:Encrypt" in doc["Action"]
    assert grant.urn in c.dependencies  # EKS checks the key when it creates the cluster


def test_on_prem_api_clients_are_admitted_before_any_kubernetes_object() -> None:
    """Deployed from on-prem over the VPN: TCP 443 from each on-prem block on the cluster security group,
    and the Kubernetes provider (so every object on the cluster) waits for those rules."""
    run = run_program(lambda: EksCluster("plinth-eks", EksClusterArgs(
        cluster=ClusterConfig(deployFromVpc=True), subnet_ids=["a", "b"], region="eu-central-1",
        api_client_cidrs=["10.100.0.0/16", "10.101.0.0/16"])))
    rules = run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert sorted(r.inputs["cidrIpv4"] for r in rules) == ["10.100.0.0/16", "10.101.0.0/16"]
    assert {(r.inputs["fromPort"], r.inputs["securityGroupId"]) for r in rules} == {(443.0, "sg-plinth-eks-cluster-cluster")}
    assert {r.urn for r in rules} <= set(run.one("pulumi:providers:kubernetes").dependencies)
