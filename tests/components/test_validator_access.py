"""ValidatorAccess and the GPU pool's side of it, under the real Pulumi SDK mocks: what a `pulumi up`
with ``plinth:validation.sshAccess`` would ask AWS for, and the pure decisions beside it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.validator_access import ValidatorAccess, ValidatorAccessArgs, access_output, ssh_user
from policies.errors import ConfigError
from policies.rules.network import ingress_problems
from stacks.config import GpuPoolConfig, SshAccessConfig
from tests.components.mocks import Run, run_program

KEY_PAIR = "aws:ec2/keyPair:KeyPair"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
EICE = "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
SUBNETS = ["subnet-a", "subnet-b", "subnet-c"]


@pytest.fixture(scope="module")
def public_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("key") / "validator"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci@example", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text()


def build(config: dict[str, Any]) -> Run[ValidatorAccess]:
    cfg = SshAccessConfig.model_validate(config)
    args = ValidatorAccessArgs(config=cfg, vpc_id="vpc-1", subnet_ids=SUBNETS, ssh_user="ec2-user", prefix="acme",
                               region="us-east-1", tags={"owner": "ml"})
    return run_program(lambda: ValidatorAccess("acme-validator", args))


def test_instance_connect_endpoint_is_the_only_way_in(public_key: str) -> None:
    run = build({"publicKey": public_key, "instanceConnectEndpoint": True})
    key = run.one(KEY_PAIR).inputs
    # The public half only, without its comment; the name is the provider's, from the prefix.
    assert key["publicKey"] == " ".join(public_key.split()[:2]) and "ci@example" not in key["publicKey"]
    assert key["keyNamePrefix"] == "acme-validator-"
    groups = {r.name: r for r in run.of_type(SG)}
    nodes, eice = groups["acme-validator-nodes"], groups["acme-validator-eice"]
    assert "ingress" not in nodes.inputs and "ingress" not in eice.inputs  # rules are separate resources
    endpoint = run.one(EICE).inputs
    # Client IP preservation set off, not left to AWS's default (on): traffic comes from the
    # endpoint's interface, which works through a transit gateway and on every instance type.
    assert endpoint["preserveClientIp"] is False
    assert endpoint["subnetId"] == "subnet-a"
    assert endpoint["securityGroupIds"] == [f"{eice.name}-id"]
    (rule,) = run.of_type(INGRESS)
    assert rule.inputs["securityGroupId"] == f"{nodes.name}-id"
    assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("tcp", 22, 22)
    assert rule.inputs["referencedSecurityGroupId"] == f"{eice.name}-id" and "cidrIpv4" not in rule.inputs
    (out,) = run.of_type(EGRESS)
    assert out.inputs["securityGroupId"] == f"{eice.name}-id"
    assert out.inputs["referencedSecurityGroupId"] == f"{nodes.name}-id" and out.inputs["fromPort"] == 22
    access = run.value(run.result.access)
    assert access == {"ssh_user": "ec2-user", "key_pair_name": "acme-validator-20240101000000000000000001",
                      "security_group_id": f"{nodes.name}-id", "source": "instance-connect-endpoint",
                      "host_keys": "ec2-console-output", "instance_connect_endpoint_id": "acme-validator-eice-id"}


def test_security_group_source_with_a_bastion(public_key: str) -> None:
    run = build({"publicKey": public_key, "sourceSecurityGroupId": "sg-0123456789abcdef0",
                 "jumpHost": "ec2-user@bastion.example.com:2222"})
    assert not run.of_type(EICE) and not run.of_type(EGRESS)
    (rule,) = run.of_type(INGRESS)
    assert rule.inputs["referencedSecurityGroupId"] == "sg-0123456789abcdef0" and rule.inputs["fromPort"] == 22
    access = run.value(run.result.access)
    assert access["source"] == "security-group" and access["jump_host"] == "ec2-user@bastion.example.com:2222"
    assert "instance_connect_endpoint_id" not in access


def test_cidr_sources_one_rule_each_and_the_policy_pack_finds_nothing_open(public_key: str) -> None:
    run = build({"publicKey": public_key, "sourceCidrs": ["10.20.0.0/24", "192.168.7.10/32"]})
    rules = run.of_type(INGRESS)
    assert sorted(r.inputs["cidrIpv4"] for r in rules) == ["10.20.0.0/24", "192.168.7.10/32"]
    assert all(r.inputs["fromPort"] == r.inputs["toPort"] == 22 for r in rules)
    # the mandatory security-group-no-open-ingress rule, on exactly what was registered
    assert not [p for r in run.resources for p in ingress_problems(r.type, r.inputs)]


POOL = {"name": "infer", "instanceType": "g6e.xlarge", "maxSize": 2, "profile": "real_time_inference"}
TRAIN = {"name": "train", "instanceType": "p5.48xlarge", "maxSize": 2, "availabilityZone": "us-east-1b"}


def pool_run(pool: dict[str, Any], **extra: Any) -> Run[GpuNodePool]:
    cfg = GpuPoolConfig.model_validate(pool)
    args = GpuNodePoolArgs(cluster_name="plinth-eks", subnet_ids=SUBNETS, security_group_ids=["sg-efa"], pool=cfg,
                           strategy="cloud-first", availability_zones=["us-east-1a", "us-east-1b", "us-east-1c"], **extra)
    return run_program(lambda: GpuNodePool(f"plinth-{cfg.name}", args))


def test_pool_without_efa_names_the_cluster_group_beside_the_ssh_group() -> None:
    lt = pool_run(POOL, cluster_security_group_id="sg-cluster", key_name="acme-validator-1",
                  ssh_security_group_id="sg-ssh").one(LT).inputs
    assert lt["keyName"] == "acme-validator-1"
    # Groups in the template replace the cluster group EKS would add: without it nodes can't join.
    assert lt["vpcSecurityGroupIds"] == ["sg-cluster", "sg-ssh"]


def test_pool_with_efa_puts_the_ssh_group_on_its_interfaces() -> None:
    lt = pool_run(TRAIN, cluster_security_group_id="sg-cluster", key_name="k", ssh_security_group_id="sg-ssh").one(LT).inputs
    assert "vpcSecurityGroupIds" not in lt  # a template with interfaces takes groups on the interfaces only
    assert len(lt["networkInterfaces"]) == 32
    assert all(nic["securityGroups"] == ["sg-efa", "sg-cluster", "sg-ssh"] for nic in lt["networkInterfaces"])


def test_pool_without_access_has_no_key_and_keeps_eks_default_groups() -> None:
    lt = pool_run(POOL, cluster_security_group_id="sg-cluster").one(LT).inputs
    assert "keyName" not in lt and "vpcSecurityGroupIds" not in lt


def test_ssh_group_without_the_cluster_group_is_refused_before_anything_registers() -> None:
    with pytest.raises(ValueError, match="needs cluster_security_group_id"):
        pool_run(POOL, key_name="k", ssh_security_group_id="sg-ssh")


def test_ssh_user_per_ami_family() -> None:
    assert ssh_user(["AL2023_x86_64_NVIDIA", "AL2023_x86_64_NEURON"]) == "ec2-user"
    with pytest.raises(ConfigError, match="BOTTLEROCKET_x86_64_NVIDIA have no SSH login"):
        ssh_user(["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"])


def test_access_output_leaves_out_what_does_not_apply(public_key: str) -> None:
    cfg = SshAccessConfig.model_validate({"publicKey": public_key, "sourceCidrs": ["10.1.0.0/16"]})
    assert access_output(cfg, "ec2-user", "k", "sg-1", None) == {
        "ssh_user": "ec2-user", "key_pair_name": "k", "security_group_id": "sg-1", "source": "cidrs",
        "host_keys": "ec2-console-output"}


def test_public_key_file_is_read_bounded(tmp_path: Path, public_key: str) -> None:
    pub = tmp_path / "id.pub"
    pub.write_text(public_key)
    cfg = SshAccessConfig.model_validate({"publicKey": str(pub), "instanceConnectEndpoint": True})
    assert cfg.public_key == " ".join(public_key.split()[:2])
