"""The fabric judges (validators/checks/fabric.py) and network.bandwidth against the front-end an
instance type can deliver: pure, on facts as the phase leaves them."""

from __future__ import annotations

from typing import Any

import pytest

from policies.catalogue import instance
from policies.frontend_network import deliverable_tcp
from policies.thresholds import Profile, Threshold, builtin_profiles
from validators.checks.base import CheckContext, judge_fleet, judge_node
from validators.checks.fabric import nccl_time_ms
from validators.fabric.runs import entry

GPUS = {"gpu": {"devices": [{"index": i, "name": "NVIDIA H100 80GB HBM3"} for i in range(8)]}}
TRAINING = builtin_profiles()["distributed_training"]


def _prof(**lines: Threshold) -> Profile:
    return Profile(name="t", description="t", thresholds={k.replace("__", "."): v for k, v in lines.items()})


def _ring(**kw: Any) -> dict[str, Any]:
    base = {"status": "ok", "reason": None, "n": 4, "message_bytes": 25 << 20, "sync_ms": 30.0, "busbw_gbs": 1.3, "wrong": 0,
            "slow_nodes": [], "slow_links": [], "best_link_gbps": 9.0, "bottleneck": {"from": "a", "to": "b", "gbps": 8.0}}
    return {**base, **kw}


def _fleet(controller: dict[str, Any], prof: Profile = TRAINING, check_id: str = "network.allreduce") -> list:
    return [r for r in judge_fleet({}, {"fabric": controller}, prof) if r.id == check_id]


@pytest.mark.parametrize(("ms", "status", "band"), [(4.0, "pass", "excellent"), (30.0, "warn", "acceptable"),
                                                     (80.0, "fail", "poor")])
def test_allreduce_applies_the_seed_bands_to_the_ring(ms: float, status: str, band: str) -> None:
    [res] = _fleet({"allreduce": _ring(sync_ms=ms)})
    assert (res.status, res.measured, res.threshold, res.unit) == (status, ms, 50, "ms")
    assert f"gradient sync of 25 MiB: {ms:g} ms, {band}" in res.message and "builtin ring over TCP, 4 nodes" in res.message


def test_allreduce_names_the_slow_node_beside_the_verdict() -> None:
    ring = _ring(sync_ms=900.0, slow_nodes=[{"node": "node-1", "in_gbps": 0.09, "out_gbps": 0.1}], best_link_gbps=1.3)
    main, named = _fleet({"allreduce": ring})
    assert main.status == "fail" and "node-1 slows the ring" in main.message
    assert named.status == "warn" and named.message.startswith("node-1: both of its ring links are slow")


def test_allreduce_prefers_nccls_time_when_the_fleet_run_succeeded() -> None:
    rows = [{"size_bytes": s, "out_of_place": {"time_us": t}, "in_place": {"time_us": t + 200}}
            for s, t in ((16 << 20, 1800.0), (32 << 20, 3400.0))]
    nccl = entry("ok", result={"ok": True, "rows": rows})
    [res] = _fleet({"allreduce": _ring(sync_ms=400.0), "nccl_fleet": nccl})
    # 25 MiB lies 9/16 of the way from 16 to 32 MiB: 1.9 + 0.5625 * 1.6 = 2.8 ms over NCCL; the TCP ring's 400 ms is shown
    assert res.status == "pass" and res.measured == pytest.approx(2.8)
    assert "via NCCL" in res.message and "the builtin TCP ring took 400 ms" in res.message
    assert nccl_time_ms({"ok": True, "rows": rows}, 64 << 20) is None  # outside the run's sizes: not guessed


def test_allreduce_corruption_fails_and_a_failed_ring_is_an_error() -> None:
    [bad] = _fleet({"allreduce": _ring(wrong=2)})
    assert bad.status == "fail" and "came back wrong" in bad.message
    [err] = _fleet({"allreduce": entry("error", "ring all-reduce failed: node-2: no result")})
    assert err.status == "error" and err.message == "ring all-reduce failed: node-2: no result"
    [skip] = _fleet({"allreduce": entry("skipped", "the ring all-reduce needs at least 2 reachable nodes")})
    assert skip.status == "skip"


def test_fabric_not_run_is_a_skip_with_the_reason_never_a_pass() -> None:
    ctx = CheckContext(profile=TRAINING, node="n")
    checks = {"gpu.dcgm_diag", "gpu.nccl_intranode", "network.nccl_internode", "network.rdma_bandwidth"}
    for facts, reason in (({**GPUS}, "fabric tests did not run"), ({**GPUS, "fabric": {"skipped": "fabric tests not run (--quick)"}},
                                                                   "fabric tests not run (--quick)")):
        results = [r for r in judge_node(facts, ctx) if r.id in checks]
        assert {r.id for r in results} == checks
        assert all(r.status == "skip" and reason in r.message for r in results), results
    [fleet] = _fleet({"allreduce": entry("skipped", "fabric tests not run (--no-fabric)")})
    assert fleet.status == "skip"


def test_internode_judges_the_best_pair_but_never_hides_corruption() -> None:
    good = {"ok": True, "rows": [], "peak_busbw_gbs": 40.0, "wrong_total": 0, "out_of_bounds": 0, "data_checked": True}
    bad = {**good, "peak_busbw_gbs": 45.0, "wrong_total": 3}
    e = entry("ok", result=good, best_peer="b", tool="nccl",
              peers=[{"peer": "b", "role": "client", "busbw_gbs": 40.0, "error": None},
                     {"peer": "c", "role": "server", "busbw_gbs": None, "error": "mpirun: ssh: connection refused"}],
              runs=[{"peer": "b", "role": "client", "result": good, "fabric": "efa"},
                    {"peer": "c", "role": "server", "result": None, "fabric": "efa"}])
    prof = _prof(network__nccl_internode=Threshold(min=12.5, unit="GB/s"))
    [res] = judge_node({"fabric": {"nccl_internode": e}}, CheckContext(profile=prof, node="a"))
    assert res.status == "pass" and "with b" in res.message and "<- c: error: mpirun: ssh" in res.message
    e["runs"][1]["result"] = bad
    [res] = judge_node({"fabric": {"nccl_internode": e}}, CheckContext(profile=prof, node="a"))
    assert res.status == "fail" and "with c" in res.message


# --- network.bandwidth against the instance's front-end ----------------------------------------

def _pairwise(gbps: float, streams: int = 4) -> dict[str, Any]:
    return {"pairwise": {"bandwidth_gbps": gbps, "latency_ms": 0.1, "tool": "iperf3", "streams": streams, "error": None,
                         "peers": [{"peer": "x", "role": "client", "bandwidth_gbps": gbps, "latency_ms": 0.1, "error": None}]}}


def _bw(gbps: float, instance_type: str | None, placement: bool | None = None, streams: int = 4) -> Any:
    expect = {"instance_type": instance_type, "placement_group": placement} if instance_type else {}
    ctx = CheckContext(profile=TRAINING, node="n", expect=expect, instance=instance(instance_type) if instance_type else None)
    return next(r for r in judge_node(_pairwise(gbps, streams), ctx) if r.id == "network.bandwidth")


def test_a_healthy_p5_pair_over_4_tcp_flows_passes() -> None:
    """AWS caps one TCP flow at 5 Gbps outside a cluster placement group: 4 flows reach ~20 Gbps on a
    p5.48xlarge. An expert reads 19 Gbps as healthy; the old 100 Gbps floor failed every such pair."""
    d = deliverable_tcp(instance("p5.48xlarge"), 4, None)  # type: ignore[arg-type]
    assert (d.gbps, d.floor_gbps, d.aggregate_gbps) == (20, 16, 100)
    res = _bw(19.2, "p5.48xlarge")
    assert res.status == "pass" and res.threshold == 16 and "healthy p5.48xlarge pair reaches ~20 Gbps" in res.message
    # a pair at 9 Gbps is a degraded path (half of what 4 flows deliver)
    assert _bw(9.0, "p5.48xlarge").status == "fail"
    # inside a cluster placement group one flow reaches 10 Gbps: 4 flows 40, so 19 Gbps is now slow
    assert _bw(19.2, "p5.48xlarge", placement=True).status == "fail"
    assert _bw(38.0, "p5.48xlarge", placement=True).status == "pass"


def test_the_instances_front_end_caps_the_flows_and_unknown_nodes_keep_the_profile_floor() -> None:
    # g5.xlarge: 10 Gbps in all; 4 flows x 5 Gbps would be 20, the instance delivers 10
    assert deliverable_tcp(instance("g5.xlarge"), 4, None).gbps == 10  # type: ignore[arg-type]
    assert _bw(9.5, "g5.xlarge").status == "pass"
    # p4d.24xlarge: 400 Gbps over 4 network cards; IP traffic uses card 0's 100 Gbps
    assert deliverable_tcp(instance("p4d.24xlarge"), 32, True).gbps == 100  # type: ignore[arg-type]
    # not in the catalogue (on-prem, a CPU box): the profile's floor
    res = _bw(9.0, None)
    assert res.status == "fail" and res.threshold == 10 and "healthy" not in res.message
