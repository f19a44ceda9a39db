"""--stack / --stack-outputs: the outputs contract (stacks/outputs.py) resolved through EC2.

EC2 is moto's model behind boto3's real client (in-process ``mock_aws``): the tag filters,
instance states and pagination are moto's implementation, not ours."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from policies.errors import ConfigError
from validators.stack_inventory import inventory_from_outputs, read_outputs

REGION = "us-east-1"


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def launch(ec2: Any, count: int, itype: str, tags: dict[str, str]) -> list[str]:
    ami = "ami-12c6146b"  # moto launches from any AMI id; listing its catalogue costs seconds
    res = ec2.run_instances(ImageId=ami, MinCount=count, MaxCount=count, InstanceType=itype,
                            TagSpecifications=[{"ResourceType": "instance",
                                                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    return [i["InstanceId"] for i in res["Instances"]]


def outputs(**over: Any) -> dict[str, Any]:
    base = {
        "strategy": "cloud-first", "profile": "distributed_training", "region": REGION, "cluster_name": "plinth-eks",
        "node_groups": [{"name": "train", "instance_type": "p5.48xlarge", "max_size": 4,
                         "tag_selector": {"tag:plinth:pool": "train", "tag:eks:cluster-name": "plinth-eks"}}],
        "gpu_node_tag_selector": {"tag:eks:cluster-name": "plinth-eks", "tag-key": "plinth:pool"},
        "buckets": {"raw": "plinth-raw-abc", "curated": "plinth-curated-abc"},
        "object_store_endpoint": "https://s3.us-east-1.amazonaws.com", "thing_group": None, "vpc_id": "vpc-1",
    }
    base.update(over)
    return base


def test_pool_selector_finds_running_instances_by_private_ip(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLINTH_SSH_USER", "admin")
    monkeypatch.setenv("PLINTH_SSH_JUMP", "ec2-user@bastion.example.com:2222")
    train = launch(ec2, 2, "p5.48xlarge", {"plinth:pool": "train", "eks:cluster-name": "plinth-eks", "Name": "gpu"})
    launch(ec2, 1, "p5.48xlarge", {"plinth:pool": "train", "eks:cluster-name": "other-cluster"})  # another stack
    stopped = launch(ec2, 1, "p5.48xlarge", {"plinth:pool": "train", "eks:cluster-name": "plinth-eks"})
    ec2.stop_instances(InstanceIds=stopped)
    inv = inventory_from_outputs(outputs(), "--stack prod", ec2=ec2)
    ips = {i["InstanceId"]: i["PrivateIpAddress"] for r in ec2.describe_instances(InstanceIds=train)["Reservations"]
           for i in r["Instances"]}
    assert sorted(n.host for n in inv.nodes) == sorted(ips.values())
    assert all(n.expect.instance_type == "p5.48xlarge" and n.user == "admin" for n in inv.nodes)
    assert all(n.jump is not None and n.jump.port == 2222 and n.jump.user == "ec2-user" for n in inv.nodes)
    assert inv.profile == "distributed_training"
    assert inv.object_store is not None and inv.object_store.bucket == "plinth-raw-abc"


def test_stack_wide_selector_when_no_pools_are_exported(ec2: Any) -> None:
    launch(ec2, 1, "g5.48xlarge", {"plinth:pool": "burst", "eks:cluster-name": "plinth-eks"})
    launch(ec2, 1, "m5.large", {"eks:cluster-name": "plinth-eks"})  # a system node: no plinth:pool tag
    inv = inventory_from_outputs(outputs(node_groups=[]), "--stack s", ec2=ec2)
    assert [n.expect.instance_type for n in inv.nodes] == ["g5.48xlarge"]


def test_no_running_instances_is_a_config_error_naming_the_selector(ec2: Any) -> None:
    with pytest.raises(ConfigError, match=r"^--stack s: no running EC2 instances match .*plinth:pool"):
        inventory_from_outputs(outputs(), "--stack s", ec2=ec2)


def test_edge_stack_without_gpu_nodes_is_named() -> None:
    with pytest.raises(ConfigError, match="gpu_node_tag_selector: the stack exports no GPU nodes"):
        inventory_from_outputs(outputs(node_groups=[], gpu_node_tag_selector=None), "--stack edge", ec2=object())


def test_outputs_file_and_missing_pulumi_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "out.json"
    f.write_text(json.dumps(outputs()))
    assert read_outputs(None, f)["region"] == REGION
    f.write_text("{not json")
    with pytest.raises(ConfigError, match=r"^--stack-outputs .*out.json:1:\d+: not JSON"):
        read_outputs(None, f)
    monkeypatch.setenv("PATH", str(tmp_path))  # no `pulumi` anywhere
    with pytest.raises(ConfigError, match="pulumi CLI is not installed"):
        read_outputs("prod", None)
    with pytest.raises(ConfigError, match="not a stack name"):
        read_outputs("prod; rm -rf /", None)


# --- the stack's validator_access output (plinth:validation.sshAccess) -----------------------------

EICE = "eice-0123456789abcdef0"


def access(**over: Any) -> dict[str, Any]:
    return {"ssh_user": "ec2-user", "key_pair_name": "acme-validator-1", "security_group_id": "sg-0123456789abcdef0",
            "source": "instance-connect-endpoint", "host_keys": "ec2-console-output",
            "instance_connect_endpoint_id": EICE, **over}


def test_instance_connect_endpoint_gives_each_node_its_tunnel(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PLINTH_SSH_USER", "PLINTH_SSH_JUMP"):
        monkeypatch.delenv(var, raising=False)
    ids = launch(ec2, 2, "p5.48xlarge", {"plinth:pool": "train", "eks:cluster-name": "plinth-eks"})
    inv = inventory_from_outputs(outputs(validator_access=access(ssh_user="admin")), "--stack prod", ec2=ec2)
    by_id = {str(n.host_key_alias): n for n in inv.nodes}
    assert sorted(by_id) == sorted(ids)
    for iid, node in by_id.items():
        assert node.user == "admin" and node.jump is None
        assert node.ec2 is not None and (node.ec2.instance_id, node.ec2.region) == (iid, REGION)
        # argv for `aws ec2-instance-connect open-tunnel`, never a shell string
        assert node.proxy_command == ("aws", "ec2-instance-connect", "open-tunnel", "--instance-connect-endpoint-id", EICE,
                                      "--private-ip-address", node.host, "--remote-port", "22", "--region", REGION)


def test_jump_host_from_the_stack_and_the_environment_wins(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLINTH_SSH_JUMP", raising=False)
    launch(ec2, 1, "g6e.xlarge", {"plinth:pool": "train", "eks:cluster-name": "plinth-eks"})
    stack_jump = access(source="security-group", jump_host="ops@bastion.example.com:2200")
    del stack_jump["instance_connect_endpoint_id"]
    (node,) = inventory_from_outputs(outputs(validator_access=stack_jump), "--stack s", ec2=ec2).nodes
    assert node.jump is not None and (node.jump.user, node.jump.host, node.jump.port) == ("ops", "bastion.example.com", 2200)
    assert node.proxy_command is None
    monkeypatch.setenv("PLINTH_SSH_JUMP", "me@other-bastion")
    (node,) = inventory_from_outputs(outputs(validator_access=access()), "--stack s", ec2=ec2).nodes
    assert node.jump is not None and node.jump.host == "other-bastion" and node.proxy_command is None


@pytest.mark.parametrize(("field", "value", "message"), [
    ("instance_connect_endpoint_id", "eice-1; rm -rf /", "validator_access.instance_connect_endpoint_id: not an EC2 Instance Connect"),
    ("ssh_user", "root -oProxyCommand=x", "validator_access.ssh_user: not a user name"),
    ("jump_host", "a b@c", "validator_access.jump_host: "),
    ("security_group_id", ["sg-1"], "validator_access.security_group_id: expected text (got a list)"),
])
def test_hostile_access_output_is_refused_naming_the_key(ec2: Any, monkeypatch: pytest.MonkeyPatch, field: str,
                                                        value: Any, message: str) -> None:
    monkeypatch.delenv("PLINTH_SSH_JUMP", raising=False)
    launch(ec2, 1, "g6e.xlarge", {"plinth:pool": "train", "eks:cluster-name": "plinth-eks"})
    with pytest.raises(ConfigError) as err:
        inventory_from_outputs(outputs(validator_access=access(**{field: value})), "--stack s", ec2=ec2)
    assert str(err.value).startswith("--stack s: ") and message in str(err.value)


def test_nodes_launched_before_access_are_named_in_a_note(ec2: Any) -> None:
    sg = ec2.create_security_group(GroupName="validator-nodes", Description="ssh")["GroupId"]
    ec2.import_key_pair(KeyName="acme-validator-1", PublicKeyMaterial=b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOQcbMBWshPpTIpBICR/JYKfaVcn/k2K4vYbX75VER63")
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "plinth:pool", "Value": "train"},
                                                  {"Key": "eks:cluster-name", "Value": "plinth-eks"}]}]
    new = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="g6e.xlarge", KeyName="acme-validator-1",
                            SecurityGroupIds=[sg], TagSpecifications=tags)["Instances"][0]["InstanceId"]
    old = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="g6e.xlarge",
                            TagSpecifications=tags)["Instances"][0]["InstanceId"]
    inv = inventory_from_outputs(outputs(validator_access=access(security_group_id=sg)), "--stack s", ec2=ec2)
    assert len(inv.nodes) == 2  # still validated: the run says what failed on the old one
    (note,) = inv.notes
    assert note.startswith("1 of 2 node(s) were launched before the stack's SSH access") and old in note and new not in note


def test_stacks_without_access_keep_the_environment_defaults(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLINTH_SSH_USER", raising=False)
    monkeypatch.delenv("PLINTH_SSH_JUMP", raising=False)
    (iid,) = launch(ec2, 1, "g6e.xlarge", {"plinth:pool": "train", "eks:cluster-name": "plinth-eks"})
    (node,) = inventory_from_outputs(outputs(), "--stack s", ec2=ec2).nodes
    assert node.user == "ec2-user" and node.proxy_command is None and node.jump is None
    assert node.host_key_alias == iid and not inventory_from_outputs(outputs(), "--stack s", ec2=ec2).notes
