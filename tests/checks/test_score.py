"""Readiness score: the seed's weights, scaling to what the profile assesses, the health cap."""

from __future__ import annotations

from tests.checks.facts import H100_8, ctx, gpu_facts, no_driver_facts
from validators.checks.base import judge_node
from validators.results import CheckResult
from validators.score import band, readiness_score, score_node


def r(check_id: str, status: str, measured: object = None) -> CheckResult:
    return CheckResult.make(check_id, status, "m", measured=measured)  # type: ignore[arg-type]


SEED_READY = [r("gpu.count", "pass", 8), r("system.cpu_cores", "pass", 96), r("network.bandwidth", "pass", 400.0), r("system.data_stack", "pass", True)]


def test_seed_weights_full_marks() -> None:
    s = score_node(SEED_READY)
    assert (s.score, s.band, s.gaps, s.points) == (100.0, "good foundation", [], {"gpu": 30, "cpu": 20, "network": 25, "data_stack": 25})


def test_seed_gaps_named() -> None:
    s = score_node([r("gpu.count", "fail", 0), r("system.cpu_cores", "fail", 4), r("network.bandwidth", "fail", 0.05), r("system.data_stack", "pass", True)])
    assert s.score == 25.0 and s.band == "urgent action required"
    assert s.gaps == ["NO_GPU_DETECTED", "INSUFFICIENT_CPU", "INADEQUATE_NETWORK"]


def test_below_profile_floor_still_earns_seed_points() -> None:
    # 2 of 8 GPUs fails gpu.count but the seed's ">= 1 GPU" is met; 100 Mbps < x is the seed line
    s = score_node([r("gpu.count", "fail", 2), r("system.cpu_cores", "pass", 8), r("network.bandwidth", "fail", 10.0), r("system.data_stack", "fail", False)])
    assert s.points == {"gpu": 30, "cpu": 20, "network": 25, "data_stack": 0} and s.score == 75.0


def test_unassessed_components_scale_and_nic_speed_stands_in() -> None:
    edge = score_node([r("system.cpu_cores", "pass", 4), r("network.latency", "pass", 3.0)])
    assert edge.points == {"cpu": 0} and edge.score == 0.0
    audit = score_node([r("gpu.count", "pass", 1), r("network.bandwidth", "skip"), r("network.nic_speed", "pass", 25.0)])
    assert audit.points == {"gpu": 30, "network": 25} and audit.score == 100.0


def test_errored_component_earns_nothing() -> None:
    s = score_node([r("gpu.count", "pass", 8), r("network.bandwidth", "error")])
    assert s.points == {"gpu": 30, "network": 0} and "INADEQUATE_NETWORK" in s.gaps


def test_health_cap() -> None:
    s = score_node(SEED_READY + [r("gpu.xid", "fail", 11)])
    assert (s.score, s.capped, s.band) == (74.0, True, "modernisation needed")
    assert score_node(SEED_READY + [r("gpu.temperature", "warn", 84.0)]).score == 100.0


def test_no_seed_component_uses_pass_share() -> None:
    assert score_node([r("storage.free_space", "pass", 1.0), r("storage.disk_throughput", "fail", 1.0), r("gpu.nvlink", "skip")]).score == 50.0
    assert score_node([r("node.reachable", "error")]).score == 0.0


def test_fleet_mean_and_bands() -> None:
    assert readiness_score([SEED_READY, [r("gpu.count", "fail", 0)]]) == 50.0
    assert readiness_score([SEED_READY, []]) == 50.0  # an unreachable node with no results scores 0
    assert readiness_score([]) == 0.0
    assert [band(x) for x in (0, 49.9, 50, 74.9, 75, 100)] == ["urgent action required"] * 2 + ["modernisation needed"] * 2 + ["good foundation"] * 2


def test_score_from_real_judged_facts() -> None:
    facts = gpu_facts(H100_8)
    facts["system"] = {"cpu_physical_cores": 96, "cpu_logical": 192, "memory_gib": 2000.0, "clock_synced": True, "python": "3.10",
                       "data_stack": {"numpy": True, "pandas": True, "pyarrow": True, "torch": True}}
    healthy = judge_node(facts, ctx("single_gpu"))
    broken = judge_node({**no_driver_facts(), "system": facts["system"]}, ctx("single_gpu"))
    hs, bs = score_node(healthy), score_node(broken)
    assert hs.points["gpu"] == 30 and "NO_GPU_DETECTED" not in hs.gaps
    assert bs.points["gpu"] == 0 and "NO_GPU_DETECTED" in bs.gaps and bs.score < hs.score
