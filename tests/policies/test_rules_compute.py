"""EKS node groups, the API endpoint and distributed-training pools, on engine-shaped props."""

from __future__ import annotations

import pytest

from tests.policies.engine_args import UNKNOWN_STR, StackBuilder, run_resource

NG = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
PG = "aws:ec2/placementGroup:PlacementGroup"


def node_group(**over) -> dict:
    ng = {
        "clusterName": UNKNOWN_STR, "nodeRoleArn": UNKNOWN_STR, "subnetIds": UNKNOWN_STR,
        "amiType": "AL2023_x86_64_NVIDIA", "instanceTypes": ["p5.48xlarge"], "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": 0, "desiredSize": 2, "maxSize": 4},
        "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
        "labels": {"plinth.dev/profile": "distributed_training", "plinth.dev/pool": "train"},
        "launchTemplate": {"id": UNKNOWN_STR, "version": UNKNOWN_STR},
        "tags": {"owner": "o", "cost-center": "c", "strategy": "cloud-first"},
    }
    ng.update(over)
    return ng


NODE_GROUP_RULES = ("eks-gpu-ami-type", "eks-gpu-taint", "eks-node-group-scaling", "eks-spot-interruptible-only",
                    "eks-allowed-instance-types", "training-pool-bandwidth", "required-tags")


@pytest.mark.parametrize("name", NODE_GROUP_RULES)
def test_good_gpu_node_group_passes(name: str) -> None:
    assert run_resource(name, NG, node_group()) == []


@pytest.mark.parametrize(("name", "over", "words"), [
    ("eks-gpu-ami-type", {"amiType": "AL2023_x86_64_STANDARD"}, "AL2023_x86_64_NVIDIA"),
    ("eks-gpu-ami-type", {"instanceTypes": ["trn1.32xlarge"]}, "AL2023_x86_64_NEURON"),
    ("eks-gpu-ami-type", {"amiType": None}, "got none"),
    ("eks-gpu-taint", {"taints": []}, "nvidia.com/gpu"),
    ("eks-gpu-taint", {"taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "PREFER_NO_SCHEDULE"}]}, "NO_SCHEDULE"),
    ("eks-gpu-taint", {"instanceTypes": ["inf2.xlarge"], "amiType": "AL2023_x86_64_NEURON"}, "aws.amazon.com/neuron"),
    ("eks-node-group-scaling", {"scalingConfig": {"minSize": 3, "desiredSize": 1, "maxSize": 4}}, "minSize <= desiredSize"),
    ("eks-node-group-scaling", {"scalingConfig": {"minSize": 0, "desiredSize": 0, "maxSize": 500}}, "above the cap"),
    ("eks-spot-interruptible-only", {"capacityType": "SPOT"}, "plinth.dev/interruptible=true"),
    ("eks-allowed-instance-types", {"instanceTypes": ["p6-b200.48xlarge"], "amiType": "AL2023_x86_64_NVIDIA"}, "not in plinth's catalogue"),
    ("training-pool-bandwidth", {"instanceTypes": ["g6e.xlarge"]}, "20 Gbps"),
    ("required-tags", {"tags": {"owner": "o"}}, "cost-center, strategy"),
])
def test_bad_node_group_variants_fail(name: str, over: dict, words: str) -> None:
    messages = run_resource(name, NG, node_group(**over), resource_name="train-ng")
    assert len(messages) == 1 and words in messages[0] and "train-ng" in messages[0], messages


def test_spot_is_fine_when_marked_interruptible() -> None:
    labels = {"plinth.dev/profile": "real_time_inference", "plinth.dev/interruptible": "true"}
    assert run_resource("eks-spot-interruptible-only", NG, node_group(capacityType="SPOT", labels=labels)) == []


def test_config_changes_the_verdicts() -> None:
    small = node_group(instanceTypes=["g6e.xlarge"])
    assert run_resource("training-pool-bandwidth", NG, small, config={"minTrainingBandwidthGbps": 10}) == []
    assert run_resource("eks-allowed-instance-types", NG, node_group(), config={"allowedInstanceTypes": ["p4d.24xlarge"]})
    assert run_resource("eks-node-group-scaling", NG, node_group(), config={"maxNodesPerPool": 2})
    assert run_resource("required-tags", NG, node_group(tags={"team": "x"}), config={"requiredTags": ["team"]}) == []


def test_non_training_pool_is_not_judged_on_bandwidth_and_cpu_pool_not_on_gpu_rules() -> None:
    assert run_resource("training-pool-bandwidth", NG, node_group(instanceTypes=["g6e.xlarge"], labels={})) == []
    cpu = node_group(instanceTypes=["m7i.2xlarge"], amiType="AL2023_x86_64_STANDARD", taints=[], labels={})
    assert run_resource("eks-gpu-ami-type", NG, cpu) == [] and run_resource("eks-gpu-taint", NG, cpu) == []


@pytest.mark.parametrize(("vpc", "bad"), [
    ({"endpointPublicAccess": True}, True),
    ({"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}, True),
    ({"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}, False),
    ({"endpointPublicAccess": False, "endpointPrivateAccess": True}, False),
])
def test_eks_endpoint(vpc: dict, bad: bool) -> None:
    props = {"roleArn": UNKNOWN_STR, "vpcConfig": {"subnetIds": UNKNOWN_STR, **vpc}}
    messages = run_resource("eks-endpoint-not-public", "aws:eks/cluster:Cluster", props)
    assert bool(messages) == bad, messages


def nics(n: int) -> list[dict]:
    return [{"networkCardIndex": i, "deviceIndex": 0 if i == 0 else 1, "interfaceType": "efa" if i == 0 else "efa-only",
             "securityGroups": UNKNOWN_STR} for i in range(n)]


def training_stack(efa: int = 32, placement: str | None = "cluster", lt: bool = True, **ng_over) -> StackBuilder:
    st = StackBuilder()
    deps: dict = {}
    lt_props: dict = {"networkInterfaces": nics(efa)}
    if placement is not None:
        pg = st.add(PG, "net-cluster-pg", {"strategy": placement})
        lt_props["placement"] = {"groupName": UNKNOWN_STR}
        deps["placement"] = [pg]
    if lt:
        lt_urn = st.add(LT, "train-lt", lt_props, deps=deps)
        st.add(NG, "train-ng", node_group(**ng_over), deps={"launchTemplate": [lt_urn]})
    else:
        st.add(NG, "train-ng", node_group(launchTemplate=None, **ng_over))
    return st


def test_good_training_pool_passes_efa_and_placement() -> None:
    st = training_stack()
    assert st.run("training-pool-efa") == [] and st.run("training-pool-placement-group") == []


@pytest.mark.parametrize(("kwargs", "name", "words"), [
    ({"efa": 0}, "training-pool-efa", "no EFA interface"),
    ({"efa": 4}, "training-pool-efa", "4 EFA interfaces of the 32"),
    ({"lt": False}, "training-pool-efa", "no launch template"),
    ({"placement": None}, "training-pool-placement-group", "sets no placement group"),
    ({"placement": "spread"}, "training-pool-placement-group", "'spread'"),
    ({"lt": False}, "training-pool-placement-group", "no launch template"),
])
def test_bad_training_pool_fails(kwargs: dict, name: str, words: str) -> None:
    messages = training_stack(**kwargs).run(name)
    assert len(messages) == 1 and words in messages[0] and "train-ng" in messages[0], messages


def test_inference_pool_without_efa_is_not_a_training_violation() -> None:
    st = training_stack(efa=0, placement=None, labels={"plinth.dev/profile": "real_time_inference"})
    assert st.run("training-pool-efa") == [] and st.run("training-pool-placement-group") == []


def test_cost_against_policy_budget_and_stack_budget() -> None:
    st = training_stack()  # 4 x p5.48xlarge at 55.04 = 220.16 USD/h
    over = st.run("cost-within-budget", config={"budgetUsdPerHour": 100})
    assert len(over) == 1 and "220.16" in over[0] and "100.00" in over[0]
    assert st.run("cost-within-budget", config={"budgetUsdPerHour": 300}) == []
    assert st.run("cost-within-budget", pulumi_config={"plinth:budgetUsdPerHour": "50"})  # the stack's own budget
    from pulumi_policy.policy import _NotApplicableError
    with pytest.raises(_NotApplicableError):
        st.run("cost-within-budget", pulumi_config={})
