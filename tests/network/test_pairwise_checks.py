"""network.bandwidth / network.latency judges and the fleet outlier checks, as tables."""

from __future__ import annotations

from typing import Any

import pytest

from policies.thresholds import Profile, Threshold, get_profile
from validators.checks.base import CheckContext, judge_fleet, judge_node
from validators.checks.fleet import outliers
from validators.checks.network_pairwise import bandwidth, latency
from validators.network.infer import PairResult, node_facts

BW = Threshold(min=100, unit="Gbps")
LAT = Threshold(max=1.0, unit="ms")
CTX = CheckContext(profile=get_profile("distributed_training"), node="n1")


def _pw(bw: float | None, lat: float | None = 0.05, **kw: Any) -> dict[str, Any]:
    return {"pairwise": {"bandwidth_gbps": bw, "latency_ms": lat, "tool": "iperf3",
                         "peers": [{"peer": "n0", "role": "server", "bandwidth_gbps": bw, "latency_ms": lat, "error": None}],
                         "error": None, **kw}}


@pytest.mark.parametrize("bw, status", [(400.0, "pass"), (103.0, "warn"), (100.0, "warn"), (99.9, "fail"), (0.1, "fail")])
def test_bandwidth_floor(bw: float, status: str) -> None:
    res = bandwidth(_pw(bw), BW, CTX)
    assert res.status == status
    assert res.measured == pytest.approx(bw) and res.threshold == 100 and res.unit == "Gbps"
    assert "<- n0" in res.message
    if status == "fail":
        assert "needs >= 100 Gbps" in res.message and res.remediation


@pytest.mark.parametrize("lat, status", [(0.05, "pass"), (0.98, "warn"), (1.5, "fail"), (10.2, "fail")])
def test_latency_ceiling(lat: float, status: str) -> None:
    assert latency(_pw(10, lat), LAT, CTX).status == status


def test_absent_skipped_and_error_are_never_pass() -> None:
    assert bandwidth({}, BW, CTX).status == "skip"
    assert "single node" in bandwidth({}, BW, CTX).message
    skipped = {"pairwise": {"skipped": "pairwise network tests not run (--no-network)"}}
    assert latency(skipped, LAT, CTX).status == "skip" and "--no-network" in latency(skipped, LAT, CTX).message
    err = {"pairwise": {"bandwidth_gbps": None, "latency_ms": None, "peers": [], "error": "every pair failed: refused"}}
    for judge, th in ((bandwidth, BW), (latency, LAT)):
        res = judge(err, th, CTX)
        assert res.status == "error" and "every pair failed: refused" in res.message


def test_slow_node_alone_fails_a_1_gbps_floor_through_judge_node() -> None:
    prof = Profile(name="t", description="t", thresholds={"network.bandwidth": Threshold(min=1, unit="Gbps")})
    pairs = [PairResult("a", "b", "builtin", 0.098, 0.05), PairResult("b", "c", "builtin", 0.095, 0.05),
             PairResult("c", "a", "builtin", 9.5, 0.03)]
    facts = node_facts(["a", "b", "c"], pairs)
    statuses = {n: judge_node({"pairwise": f}, CheckContext(profile=prof, node=n))[0].status for n, f in facts.items()}
    assert statuses == {"a": "pass", "b": "fail", "c": "pass"}


def test_outliers_warn_naming_the_node_beyond_ten_percent() -> None:
    th = Threshold(max=10, unit="%")
    # median 10: c is 11% below (warn), d 9% below (fine)
    facts = {"a": _pw(10), "b": _pw(10), "c": _pw(8.9), "d": _pw(9.1), "e": _pw(10.5)}
    res = outliers("network.bandwidth_outlier", facts, th, lambda f: f["pairwise"]["bandwidth_gbps"], "bw", "Gbps", "fix")
    assert [(r.status, r.message.split(":")[0]) for r in res] == [("warn", "c")]
    assert "11% below the fleet median 10 Gbps" in res[0].message
    # measured is in the threshold's unit (% below the median), never the Gbps value under a "%" unit
    assert (res[0].measured, res[0].threshold, res[0].unit) == (11.0, 10, "%")


def test_outliers_edge_cases() -> None:
    th = Threshold(max=10, unit="%")
    get = lambda f: f["v"]
    ok = outliers("x.y_outlier", {"a": {"v": 10}, "b": {"v": 9.5}, "c": {"v": 9.1}}, th, get, "v", "u", "fix")
    assert [r.status for r in ok] == ["pass"]
    assert (ok[0].measured, ok[0].unit) == (4.2, "%") and "lowest c 9.1 u" in ok[0].message  # c: (9.5-9.1)/9.5
    few = outliers("x.y_outlier", {"a": {"v": 10}, "b": {"v": 1}}, th, get, "v", "u", "fix")
    assert few[0].status == "skip" and "at least 3" in few[0].message


def test_fleet_checks_through_judge_fleet() -> None:
    prof = Profile(name="t", description="t", thresholds={
        "network.bandwidth_outlier": Threshold(max=10, unit="%"),
        "storage.disk_outlier": Threshold(max=10, unit="%"),
        "gpu.count_outlier": Threshold(max=10, unit="%"),
    })
    dev = [{"index": i} for i in range(8)]

    def node(bw: float, write: float, gpus: int) -> dict[str, Any]:
        return {**_pw(bw), "disk": {"write_mb_s": write, "read_mb_s": 2000.0, "error": None},
                "gpu": {"devices": dev[:gpus], "error": None if gpus else "no NVIDIA driver"}}

    facts = {"g0": node(9.5, 1500, 8), "g1": node(9.4, 400, 8), "g2": node(0.1, 1450, 8), "g3": node(9.6, 1500, 0)}
    res = judge_fleet(facts, {}, prof)
    warned = {(r.id, r.message.split(":")[0]) for r in res if r.status == "warn"}
    assert warned == {("network.bandwidth_outlier", "g2"), ("storage.disk_outlier", "g1"), ("gpu.count_outlier", "g3")}
    assert all(r.status in ("warn", "pass") for r in res)
