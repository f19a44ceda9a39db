"""gpu.versions: one pool, one driver, CUDA and VBIOS; the odd node is named. Nodes are real
captures: two 8 x H100 nodes recorded with driver 535.161.08 (VBIOS 96.00.74.00.0D) and one with
535.183.01 (VBIOS 96.00.74.00.01) — the kind of drift a half-finished AMI roll-out leaves."""

from __future__ import annotations

from policies.thresholds import get_profile
from tests.checks.facts import H100_8, H200_5, gpu_facts
from validators.checks.base import judge_fleet
from validators.checks.gpu_fleet import gpu_versions, pool_of

H100_8_OK = "nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.183.01.txt"
PROFILE = get_profile("distributed_training")
T = PROFILE.thresholds["gpu.versions"]


def node(rel: str, instance_type: str | None = None) -> dict:
    facts = gpu_facts(rel)
    if instance_type:
        facts["expect"] = {"instance_type": instance_type}
    return facts


def test_the_odd_node_of_a_pool_is_named() -> None:
    fleet = {"gpu-a": node(H100_8, "p5.48xlarge"), "gpu-b": node(H100_8, "p5.48xlarge"), "gpu-c": node(H100_8_OK, "p5.48xlarge")}
    [r] = gpu_versions(fleet, {}, T, PROFILE)
    assert r.status == "fail" and r.message.startswith("pool p5.48xlarge (3 nodes): ")
    assert "driver 535.161.08 on 2 nodes, but gpu-c has 535.183.01" in r.message
    assert "VBIOS 96.00.74.00.0D on 2 nodes, but gpu-c has 96.00.74.00.01" in r.message
    assert "CUDA" not in r.message  # both record CUDA 12.2: not a finding


def test_identical_pool_passes_and_pools_are_judged_apart() -> None:
    fleet = {"a": node(H100_8), "b": node(H100_8), "c": node(H200_5), "d": node(H200_5)}  # pools by GPU model
    results = gpu_versions(fleet, {}, T, PROFILE)
    assert [r.status for r in results] == ["pass", "pass"]
    assert "driver 535.161.08, CUDA 12.2, VBIOS 96.00.74.00.0D on all 2 nodes" in results[0].message
    assert pool_of(fleet["c"]) == "NVIDIA H200"


def test_instance_type_read_from_dmi_groups_when_the_inventory_does_not_say() -> None:
    a, b = node(H100_8), node(H100_8_OK)
    for facts in (a, b):
        facts["system"]["platform"] = {"kind": "aws", "instance_type": "p5.48xlarge"}
    assert pool_of(a) == pool_of(b) == "p5.48xlarge"


def test_one_node_or_none_skips_and_the_registry_runs_it_as_a_fleet_check() -> None:
    assert [r.status for r in gpu_versions({"a": node(H100_8)}, {}, T, PROFILE)] == ["skip"]
    assert [r.status for r in gpu_versions({"a": {"gpu": {"devices": []}}}, {}, T, PROFILE)] == ["skip"]
    results = [r for r in judge_fleet({"a": node(H100_8), "b": node(H100_8_OK)}, {}, PROFILE) if r.id == "gpu.versions"]
    assert [r.status for r in results] == ["fail"]  # same GPU model, different drivers


def test_the_inventory_expectation_reaches_the_fleet_judge_through_judging() -> None:
    """The SSH path and the facts store judge through validators.judging: the pool comes from each
    node's inventory `expect.instance_type` without the probe knowing it."""
    from validators.inventory import Expect, NodeSpec
    from validators.judging import NodeOutcome, judge_outcomes

    outcomes = [NodeOutcome(NodeSpec(name=name, host="10.0.0.1", expect=Expect(instance_type="p5.48xlarge")), True, gpu_facts(rel))
                for name, rel in (("gpu-a", H100_8), ("gpu-b", H100_8), ("gpu-c", H100_8_OK))]
    report = judge_outcomes(outcomes, {}, PROFILE, started_at=None, duration_s=None)
    [versions] = [r for r in report.fleet if r.id == "gpu.versions"]
    assert versions.status == "fail" and versions.message.startswith("pool p5.48xlarge (3 nodes)") and "gpu-c has 535.183.01" in versions.message
    assert "expect" not in outcomes[0].facts  # the node's own facts are not changed
