"""GpuNodePool under the real Pulumi SDK mocks: what a `pulumi up` would ask AWS for."""

from __future__ import annotations

from typing import Any

import pytest

from components.gpu_node_pool import (
    GpuNodePool,
    GpuNodePoolArgs,
    node_labels,
    pool_subnets,
    wants_placement_group,
)
from policies.catalogue import instance
from policies.errors import ConfigError
from stacks.config import GpuPoolConfig
from tests.components.mocks import Run, run_program

SUBNETS = ["subnet-a", "subnet-b", "subnet-c"]
NG = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
PG = "aws:ec2/placementGroup:PlacementGroup"


def build(pool: dict[str, Any], **extra: Any) -> Run[GpuNodePool]:
    cfg = GpuPoolConfig.model_validate(pool)
    args = GpuNodePoolArgs(
        cluster_name="plinth-eks", subnet_ids=SUBNETS, security_group_ids=["sg-efa"], pool=cfg,
        strategy="cloud-first", tags={"team": "ml"}, **extra,
    )
    return run_program(lambda: GpuNodePool(f"plinth-{cfg.name}", args))


@pytest.fixture(scope="module")
def p5() -> Run[GpuNodePool]:
    return build({"name": "train", "instanceType": "p5.48xlarge", "maxSize": 4, "desiredSize": 2, "minSize": 0},
                 cluster_security_group_id="sg-cluster")


def test_node_group_uses_accelerated_ami_taint_labels_and_scaling(p5: Run[GpuNodePool]) -> None:
    ng = p5.one(NG).inputs
    assert ng["amiType"] == "AL2023_x86_64_NVIDIA"
    assert ng["instanceTypes"] == ["p5.48xlarge"]
    assert ng["capacityType"] == "ON_DEMAND"
    assert ng["scalingConfig"] == {"minSize": 0.0, "desiredSize": 2.0, "maxSize": 4.0}  # ints come back as floats
    assert ng["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert ng["labels"] == {
        "plinth.dev/pillar": "compute", "plinth.dev/strategy": "cloud-first",
        "plinth.dev/profile": "distributed_training", "plinth.dev/pool": "train", "plinth.dev/accelerator": "nvidia",
        "plinth.dev/interruptible": "false",
    }
    assert ng["updateConfig"] == {"maxUnavailable": 1.0}
    assert ng["clusterName"] == "plinth-eks"


def test_distributed_pool_is_pinned_to_one_subnet_and_leaves_desired_size_to_autoscalers(p5: Run[GpuNodePool]) -> None:
    ng = p5.one(NG)
    assert ng.inputs["subnetIds"] == ["subnet-a"]
    assert ng.ignore_changes == ["scalingConfig.desiredSize"]


def test_launch_template_has_one_efa_interface_per_catalogue_count(p5: Run[GpuNodePool]) -> None:
    lt = p5.one(LT).inputs
    nics = lt["networkInterfaces"]
    row = instance("p5.48xlarge")
    assert row is not None and len(nics) == row.efa_interfaces == 32
    assert (nics[0]["interfaceType"], nics[0]["networkCardIndex"], nics[0]["deviceIndex"]) == ("efa", 0.0, 0.0)
    assert {n["interfaceType"] for n in nics[1:]} == {"efa-only"}
    assert sorted(n["networkCardIndex"] for n in nics) == [float(i) for i in range(32)]
    # EFA group on every card, the cluster group so the node can still reach the control plane
    assert all(n["securityGroups"] == ["sg-efa", "sg-cluster"] for n in nics)
    assert "vpcSecurityGroupIds" not in lt  # AWS rejects both at once


def test_launch_template_hardening_and_pool_tag(p5: Run[GpuNodePool]) -> None:
    lt = p5.one(LT).inputs
    ebs = lt["blockDeviceMappings"][0]["ebs"]
    assert (ebs["volumeType"], ebs["volumeSize"], ebs["encrypted"]) == ("gp3", 200.0, "true")
    assert lt["metadataOptions"]["httpTokens"] == "required"
    kinds = {spec["resourceType"]: spec["tags"] for spec in lt["tagSpecifications"]}
    assert kinds["instance"]["plinth:pool"] == "train"
    assert kinds["instance"]["team"] == "ml"
    assert "imageId" not in lt and "instanceType" not in lt  # the node group owns AMI type and size


def test_distributed_pool_gets_a_cluster_placement_group(p5: Run[GpuNodePool]) -> None:
    pg = p5.one(PG)
    assert pg.inputs["strategy"] == "cluster"
    assert p5.one(LT).inputs["placement"] == {"groupName": pg.inputs.get("name", "plinth-train-pg")}
    assert p5.value(p5.result.placement_group_name) == "plinth-train-pg"


def test_node_role_has_the_four_worker_policies(p5: Run[GpuNodePool]) -> None:
    arns = sorted(r.inputs["policyArn"] for r in p5.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"))
    assert arns == sorted(f"arn:aws:iam::aws:policy/{p}" for p in (
        "AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy",
        "AmazonSSMManagedInstanceCore"))
    trust = p5.one("aws:iam/role:Role").inputs["assumeRolePolicy"]
    assert "ec2.amazonaws.com" in trust
    # the node group waits for the policies (nodes that can't join would fail the create)
    ng = p5.one(NG)
    attachment_urns = {r.urn for r in p5.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert attachment_urns <= set(ng.dependencies)


def test_component_token_parenting_and_outputs(p5: Run[GpuNodePool]) -> None:
    comp = p5.one("plinth:compute:GpuNodePool")
    assert not comp.custom
    children = [r for r in p5.resources if r is not comp]
    assert children and all(r.parent == comp.urn for r in children)
    v = p5.value
    assert v(p5.result.node_tag_selector) == {"tag:plinth:pool": "train", "tag:eks:cluster-name": "plinth-eks"}
    assert v(p5.result.max_size) == 4
    assert v(p5.result.instance_type) == "p5.48xlarge"
    assert v(p5.result.node_group_name) == "plinth-train-ng"
    assert v(p5.result.launch_template_id) == "plinth-train-lt-id"
    assert v(p5.result.node_role_arn).startswith("arn:aws:iam::")


def test_p4d_gets_four_efa_interfaces() -> None:
    run = build({"name": "a100", "instanceType": "p4d.24xlarge"})
    nics = run.one(LT).inputs["networkInterfaces"]
    assert [n["interfaceType"] for n in nics] == ["efa", "efa-only", "efa-only", "efa-only"]
    assert all(n["securityGroups"] == ["sg-efa"] for n in nics)  # no cluster SG given: only the EFA group


def test_single_gpu_inference_pool_without_efa_spreads_over_all_subnets() -> None:
    run = build({"name": "serve", "instanceType": "g6e.xlarge", "profile": "real_time_inference", "maxSize": 6})
    assert "networkInterfaces" not in run.one(LT).inputs
    assert run.of_type(PG) == []
    assert "placement" not in run.one(LT).inputs
    assert run.one(NG).inputs["subnetIds"] == SUBNETS
    assert run.value(run.result.placement_group_name) is None


def test_spot_capacity_is_honoured() -> None:
    run = build({"name": "spot", "instanceType": "g5.12xlarge", "capacityType": "SPOT", "interruptible": True,
                 "profile": "single_gpu"})
    assert run.one(NG).inputs["capacityType"] == "SPOT"
    assert run.one(NG).inputs["labels"]["plinth.dev/interruptible"] == "true"


def test_neuron_pool_uses_neuron_ami_and_taint() -> None:
    run = build({"name": "trn", "instanceType": "trn1.32xlarge"})
    ng = run.one(NG).inputs
    assert ng["amiType"] == "AL2023_x86_64_NEURON"
    assert ng["taints"][0]["key"] == "aws.amazon.com/neuron"
    assert len(run.one(LT).inputs["networkInterfaces"]) == 8


def test_shared_placement_group_is_used_not_created() -> None:
    run = build({"name": "train", "instanceType": "p5.48xlarge"}, placement_group_name="shared-pg")
    assert run.of_type(PG) == []
    assert run.one(LT).inputs["placement"] == {"groupName": "shared-pg"}
    assert run.one(NG).inputs["subnetIds"] == ["subnet-a"]


def test_efa_and_placement_can_be_switched_off() -> None:
    run = build({"name": "train", "instanceType": "p5.48xlarge", "efa": False, "placementGroup": False})
    assert "networkInterfaces" not in run.one(LT).inputs
    assert run.of_type(PG) == []
    assert run.one(NG).inputs["subnetIds"] == ["subnet-a"]  # still one AZ: it trains across nodes


def test_unknown_instance_type_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        build({"name": "bad", "instanceType": "p9.mega"})
    msg = str(err.value)
    assert msg.startswith("plinth:gpuPools.bad.instanceType: unknown instance type 'p9.mega'")
    assert "p5.48xlarge" in msg and "\n" not in msg


def test_efa_forced_on_hardware_without_it_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"plinth:gpuPools\.small\.efa"):
        build({"name": "small", "instanceType": "g6e.xlarge", "efa": True})


# pure helpers ----------------------------------------------------------------------------------------


def test_pool_subnets() -> None:
    assert pool_subnets(["a", "b"], single_az=True) == ["a"]
    assert pool_subnets(["a", "b"], single_az=False) == ["a", "b"]
    with pytest.raises(ConfigError):
        pool_subnets([], single_az=True)


@pytest.mark.parametrize(("profile", "setting", "expected"), [
    ("distributed_training", None, True), ("single_gpu", None, False),
    ("single_gpu", True, True), ("distributed_training", False, False)])
def test_wants_placement_group(profile: str, setting: bool | None, expected: bool) -> None:
    pool = GpuPoolConfig.model_validate({"name": "p", "instanceType": "p5.48xlarge", "profile": profile,
                                         "placementGroup": setting})
    assert wants_placement_group(pool) is expected


def test_node_labels_name_the_accelerator() -> None:
    pool = GpuPoolConfig.model_validate({"name": "n", "instanceType": "inf2.xlarge", "profile": "real_time_inference"})
    row = instance("inf2.xlarge")
    assert row is not None
    labels = node_labels(pool, "hybrid", row)
    assert labels["plinth.dev/accelerator"] == "neuron" and labels["plinth.dev/strategy"] == "hybrid"


def test_preview_mode_registers_the_same_resources() -> None:
    """`plinth preview` runs with preview=True (unknown computed values): the component must not depend on them."""
    cfg = GpuPoolConfig.model_validate({"name": "train", "instanceType": "p5.48xlarge"})
    args = GpuNodePoolArgs(cluster_name="c", subnet_ids=SUBNETS, security_group_ids=["sg-efa"], pool=cfg,
                           strategy="cloud-first")
    run = run_program(lambda: GpuNodePool("plinth-train", args), preview=True)
    assert sorted(set(run.types())) == sorted({
        "plinth:compute:GpuNodePool", "aws:iam/role:Role", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        PG, LT, NG})
    assert len(run.one(LT).inputs["networkInterfaces"]) == 32
