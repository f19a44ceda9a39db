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
