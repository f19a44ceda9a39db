"""The system node group: where CoreDNS and the autoscaler run when every GPU node is tainted."""

from __future__ import annotations

import pytest

from components.system_node_group import SystemNodeGroup, SystemNodeGroupArgs, ami_type, system_node_selector
from stacks.config import SystemNodesConfig
from tests.components.mocks import Run, run_program

NG = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"


def build(**nodes: object) -> Run[SystemNodeGroup]:
    cfg = SystemNodesConfig.model_validate(nodes)
    return run_program(lambda: SystemNodeGroup("plinth-system", SystemNodeGroupArgs(
        cluster_name="plinth-eks", subnet_ids=["subnet-a", "subnet-b", "subnet-c"], nodes=cfg, tags={"owner": "t"})))


def test_untainted_on_demand_small_group_across_every_zone() -> None:
    run = build()
    ng = run.one(NG).inputs
    assert "taints" not in ng  # CoreDNS, the autoscaler and chart controllers tolerate no accelerator taint
    assert ng["capacityType"] == "ON_DEMAND"
    assert ng["instanceTypes"] == ["m6i.large"] and ng["amiType"] == "AL2023_x86_64_STANDARD"
    assert ng["subnetIds"] == ["subnet-a", "subnet-b", "subnet-c"]  # a zone outage leaves a CoreDNS replica
    assert ng["scalingConfig"] == {"minSize": 2.0, "desiredSize": 2.0, "maxSize": 4.0}
    # what the autoscaler chart's nodeSelector asks for is what the nodes carry
    assert system_node_selector().items() <= ng["labels"].items()


def test_system_nodes_keep_pods_off_the_node_role() -> None:
    lt = build().one(LT).inputs
    assert lt["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1.0}
    assert lt["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"


def test_sizes_come_from_config_and_every_child_is_parented() -> None:
    run = build(instanceType="m7i.xlarge", minSize=3, maxSize=6)
    ng = run.one(NG).inputs
    assert ng["instanceTypes"] == ["m7i.xlarge"] and ng["scalingConfig"]["minSize"] == 3.0
    comp = run.one("plinth:compute:SystemNodeGroup")
    assert all(r.parent == comp.urn for r in run.resources if r is not comp)
    attachments = {r.urn for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert len(attachments) == 4 and attachments <= set(run.one(NG).dependencies)


def test_graviton_system_nodes_get_the_arm64_ami() -> None:
    """EKS refuses a node group whose AMI type doesn't match the instance architecture; a Graviton
    system group (a common cost choice) must launch the AL2023 arm64 AMI."""
    assert build(instanceType="m7g.large").one(NG).inputs["amiType"] == "AL2023_ARM_64_STANDARD"


@pytest.mark.parametrize(("itype", "arch"), [
    ("m6i.large", "x86_64"), ("m7i.xlarge", "x86_64"), ("c5n.large", "x86_64"), ("g4dn.xlarge", "x86_64"),
    ("u7i-12tb.224xlarge", "x86_64"), ("t4g.medium", "ARM_64"), ("c6gn.large", "ARM_64"), ("r8gd.large", "ARM_64"),
    ("im4gn.large", "ARM_64"), ("a1.large", "ARM_64")])
def test_ami_follows_the_instance_architecture(itype: str, arch: str) -> None:
    assert ami_type(itype) == f"AL2023_{arch}_STANDARD"
