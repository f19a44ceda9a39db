"""GpuNodePool under the real Pulumi SDK mocks: what a `pulumi up` would ask AWS for."""

from __future__ import annotations

from typing import Any

import pytest

from components.gpu_node_pool import (
    GpuNodePool,
    GpuNodePoolArgs,
    first_autoscaling_group,
    node_labels,
    pool_subnets,
    pool_zone_index,
    wants_placement_group,
)
from policies.catalogue import instance
from policies.errors import ConfigError
from stacks.config import GpuPoolConfig
from tests.components.mocks import Run, run_program

SUBNETS = ["subnet-a", "subnet-b", "subnet-c"]
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]  # ZONES[i] holds SUBNETS[i], as AiNetwork lays them out
TAG = "aws:autoscaling/tag:Tag"
NG = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
PG = "aws:ec2/placementGroup:PlacementGroup"


def build(pool: dict[str, Any], **extra: Any) -> Run[GpuNodePool]:
    cfg = GpuPoolConfig.model_validate(pool)
    args = GpuNodePoolArgs(
        cluster_name="plinth-eks", subnet_ids=SUBNETS, security_group_ids=["sg-efa"], pool=cfg,
        strategy="cloud-first", tags={"team": "ml"}, availability_zones=ZONES, **extra,
    )
    return run_program(lambda: GpuNodePool(f"plinth-{cfg.name}", args))


@pytest.fixture(scope="module")
def p5() -> Run[GpuNodePool]:
    return build({"name": "train", "instanceType": "p5.48xlarge", "maxSize": 4, "desiredSize": 2, "minSize": 0,
                  "availabilityZone": "us-east-1b"}, cluster_security_group_id="sg-cluster", autoscaled=True)


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
        # what the NVIDIA and EFA device plugin charts select on, and Cluster Autoscaler's GPU-node label
        "nvidia.com/gpu.present": "true", "vpc.amazonaws.com/efa.present": "true",
        "k8s.amazonaws.com/accelerator": "nvidia-h100",
    }
    assert ng["updateConfig"] == {"maxUnavailable": 1.0}
    assert ng["clusterName"] == "plinth-eks"


def test_distributed_pool_runs_in_its_chosen_zone_and_leaves_desired_size_to_autoscalers(p5: Run[GpuNodePool]) -> None:
    ng = p5.one(NG)
    assert ng.inputs["subnetIds"] == ["subnet-b"]  # us-east-1b as configured, not the first zone
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
    # hop limit 1: a pod (one hop further than the node) cannot take the node role from IMDS
    assert lt["metadataOptions"]["httpPutResponseHopLimit"] == 1.0
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
    run = build({"name": "a100", "instanceType": "p4d.24xlarge", "availabilityZone": "us-east-1a"})
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
    run = build({"name": "trn", "instanceType": "trn1.32xlarge", "availabilityZone": "us-east-1c"})
    ng = run.one(NG).inputs
    assert ng["amiType"] == "AL2023_x86_64_NEURON"
    assert ng["taints"][0]["key"] == "aws.amazon.com/neuron"
    assert len(run.one(LT).inputs["networkInterfaces"]) == 8


def test_shared_placement_group_is_used_not_created() -> None:
    run = build({"name": "train", "instanceType": "p5.48xlarge", "availabilityZone": "us-east-1a"},
                placement_group_name="shared-pg")
    assert run.of_type(PG) == []
    assert run.one(LT).inputs["placement"] == {"groupName": "shared-pg"}
    assert run.one(NG).inputs["subnetIds"] == ["subnet-a"]


def test_efa_and_placement_can_be_switched_off() -> None:
    run = build({"name": "train", "instanceType": "p5.48xlarge", "efa": False, "placementGroup": False,
                 "availabilityZone": "us-east-1a"})
    assert "networkInterfaces" not in run.one(LT).inputs
    assert run.of_type(PG) == []
    assert run.one(NG).inputs["subnetIds"] == ["subnet-a"]  # still one AZ: it trains across nodes


def test_unknown_instance_type_is_a_config_error_naming_the_field() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown instance type 'p9.mega'"):  # the stack config refuses it
        GpuPoolConfig.model_validate({"name": "bad", "instanceType": "p9.mega"})
    # and the component still does, for a config built in code without validation
    cfg = GpuPoolConfig.model_construct(name="bad", instance_type="p9.mega")
    args = GpuNodePoolArgs(cluster_name="c", subnet_ids=SUBNETS, security_group_ids=[], pool=cfg, strategy="cloud-first")
    with pytest.raises(ConfigError) as err:
        run_program(lambda: GpuNodePool("plinth-bad", args))
    msg = str(err.value)
    assert msg.startswith("plinth:gpuPools.bad.instanceType: unknown instance type 'p9.mega'")
    assert "p5.48xlarge" in msg and "\n" not in msg


def test_efa_forced_on_hardware_without_it_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"plinth:gpuPools\.small\.efa"):
        build({"name": "small", "instanceType": "g6e.xlarge", "efa": True})


# pure helpers ----------------------------------------------------------------------------------------


def test_pool_subnets() -> None:
    assert pool_subnets(["a", "b"], 1) == ["b"]
    assert pool_subnets(["a", "b"], None) == ["a", "b"]
    with pytest.raises(ConfigError):
        pool_subnets([], None)


def _pool(**extra: object) -> GpuPoolConfig:
    return GpuPoolConfig.model_validate({"name": "p", "instanceType": "p5.48xlarge", **extra})


def test_pool_zone_is_the_configured_one_never_a_guess() -> None:
    assert pool_zone_index(ZONES, _pool(availabilityZone="us-east-1c")) == 2
    assert pool_zone_index(ZONES, _pool(profile="real_time_inference")) is None  # spreads over every zone
    with pytest.raises(ConfigError, match=r"^plinth:gpuPools\.p\.availabilityZone: us-east-1f is not one of"):
        pool_zone_index(ZONES, _pool(availabilityZone="us-east-1f"))
    # trains across nodes, or holds a reservation: one zone, and the user must say which
    for pool in (_pool(), _pool(profile="single_gpu", capacityReservation={"id": "cr-0123456789abcdef0"})):
        with pytest.raises(ConfigError, match=r"availabilityZone: this pool runs in one zone"):
            pool_zone_index(ZONES, pool)


def test_first_autoscaling_group_is_read_from_the_node_group_resources() -> None:
    from pulumi_aws.eks.outputs import NodeGroupResource, NodeGroupResourceAutoscalingGroup

    res = [NodeGroupResource(autoscaling_groups=[NodeGroupResourceAutoscalingGroup(name="eks-train-1a2b")])]
    assert first_autoscaling_group(res) == "eks-train-1a2b"
    with pytest.raises(ValueError):
        first_autoscaling_group([])


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
    cfg = GpuPoolConfig.model_validate({"name": "train", "instanceType": "p5.48xlarge", "availabilityZone": "us-east-1a"})
    args = GpuNodePoolArgs(cluster_name="c", subnet_ids=SUBNETS, security_group_ids=["sg-efa"], pool=cfg,
                           strategy="cloud-first", availability_zones=ZONES)
    run = run_program(lambda: GpuNodePool("plinth-train", args), preview=True)
    assert sorted(set(run.types())) == sorted({
        "plinth:compute:GpuNodePool", "aws:iam/role:Role", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        PG, LT, NG})
    assert len(run.one(LT).inputs["networkInterfaces"]) == 32


# capacity, local NVMe, scale from 0 ------------------------------------------------------------------


def test_capacity_block_pool_launches_into_its_block() -> None:
    """EKS user guide, "Create a managed node group with Capacity Blocks for ML": capacityType
    CAPACITY_BLOCK on the node group, market type capacity-block and the reservation on the template."""
    run = build({"name": "cb", "instanceType": "p5.48xlarge", "capacityType": "CAPACITY_BLOCK",
                 "capacityReservation": {"id": "cr-02168da1478b509e0"}, "availabilityZone": "us-east-1c"})
    lt = run.one(LT).inputs
    assert run.one(NG).inputs["capacityType"] == "CAPACITY_BLOCK"
    assert lt["instanceMarketOptions"] == {"marketType": "capacity-block"}
    assert lt["capacityReservationSpecification"] == {
        "capacityReservationTarget": {"capacityReservationId": "cr-02168da1478b509e0"}}
    assert run.one(NG).inputs["subnetIds"] == ["subnet-c"]  # the block's zone


def test_on_demand_reservation_group_is_targeted_on_the_plain_on_demand_market() -> None:
    group = "arn:aws:resource-groups:us-east-1:123456789012:group/gpus"
    run = build({"name": "odcr", "instanceType": "p4d.24xlarge", "availabilityZone": "us-east-1a",
                 "capacityReservation": {"resourceGroupArn": group}})
    spec = run.one(LT).inputs["capacityReservationSpecification"]
    assert spec == {"capacityReservationTarget": {"capacityReservationResourceGroupArn": group}}
    assert "instanceMarketOptions" not in run.one(LT).inputs
    assert run.one(NG).inputs["capacityType"] == "ON_DEMAND"


def test_instance_store_hosts_containerd_and_kubelet_via_nodeadm_raid0(p5: Run[GpuNodePool]) -> None:
    import base64
    import email

    import yaml

    doc = email.message_from_bytes(base64.b64decode(p5.one(LT).inputs["userData"]))
    assert doc.is_multipart()  # EKS merges a MIME multi-part document with its own bootstrap part
    parts = [part for part in doc.walk() if part.get_content_type() == "application/node.eks.aws"]
    assert len(parts) == 1
    node_config = yaml.safe_load(parts[0].get_payload())
    assert node_config["apiVersion"] == "node.eks.aws/v1alpha1" and node_config["kind"] == "NodeConfig"
    assert node_config["spec"] == {"instance": {"localStorage": {"strategy": "RAID0"}}}
    # inf2 has no instance store: nothing to assemble, no user data
    serve = build({"name": "inf", "instanceType": "inf2.xlarge", "profile": "real_time_inference"})
    assert "userData" not in serve.one(LT).inputs


def test_autoscaler_can_scale_the_pool_from_zero(p5: Run[GpuNodePool]) -> None:
    """With no node to copy, Cluster Autoscaler reads labels, taints and devices from the ASG's
    node-template tags (kubernetes/autoscaler cloudprovider/aws README)."""
    tags = {t.inputs["tag"]["key"]: t.inputs for t in p5.of_type(TAG)}
    prefix = "k8s.io/cluster-autoscaler/node-template"
    assert tags[f"{prefix}/taint/nvidia.com/gpu"]["tag"]["value"] == "true:NoSchedule"
    assert tags[f"{prefix}/label/plinth.dev/pool"]["tag"]["value"] == "train"
    assert tags[f"{prefix}/label/vpc.amazonaws.com/efa.present"]["tag"]["value"] == "true"
    assert tags[f"{prefix}/resources/nvidia.com/gpu"]["tag"]["value"] == "8"
    assert tags[f"{prefix}/resources/vpc.amazonaws.com/efa"]["tag"]["value"] == "32"
    labels = p5.one(NG).inputs["labels"]
    assert {k.removeprefix(f"{prefix}/label/") for k in tags if "/label/" in k} == set(labels)
    assert {t["autoscalingGroupName"] for t in tags.values()} == {"eks-plinth-train-ng-asg"}
    assert all(t["tag"]["propagateAtLaunch"] is False for t in tags.values())


def test_pool_not_autoscaled_gets_no_asg_tags() -> None:
    run = build({"name": "serve", "instanceType": "g6e.xlarge", "profile": "real_time_inference"})
    assert run.of_type(TAG) == []
