"""network.ib_link, network.ib_errors, network.ib_flaps and network.rdma_stack: table tests over
probe-shaped facts, starting from real ibstat captures and changing one thing at a time."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from policies.thresholds import Threshold
from tests.checks.facts import ctx
from tests.probe.helpers import fixture_text
from validators.checks import rdma
from validators.probe.gather.rdma import parse_flaps, parse_ibstat

LINK = Threshold(unit="ports")
ERRS = Threshold(unit="counters")
FLAPS = Threshold(max=1, unit="flaps", window_hours=6)
NDR8 = "ibverbs/ibstat_h100-node_8x-ndr400-ib-plus-1eth_all-active.txt"


def ibstat_facts(rel: str = NDR8, kind: str = "bare-metal") -> dict[str, Any]:
    return {"errors": {}, "system": {"platform": {"kind": kind}},
            "rdma": {"source": "ibstat", "error": None, "devices": parse_ibstat(fixture_text(rel)), "efa": {}, "flaps": None}}


def port_of(facts: dict[str, Any], dev: str) -> dict[str, Any]:
    return next(d for d in facts["rdma"]["devices"] if d["name"] == dev)["ports"][0]


def test_a_port_trained_at_hdr_among_ndr_siblings_fails() -> None:
    f = ibstat_facts()
    port_of(f, "mlx5_4")["rate_gbps"] = 200.0
    r = rdma.ib_link(f, LINK, ctx())
    assert r.status == "fail" and "mlx5_4 port 1 trained at 200 Gb/s while its siblings (MT4129) run 400 Gb/s" in r.message
    assert r.measured == 7 and r.threshold == 8
    assert "mlxlink" in (r.remediation or "") and "reseat or replace the cable" in (r.remediation or "")


def test_a_port_at_one_lane_fails_even_alone() -> None:
    f = ibstat_facts()
    f["rdma"]["devices"] = f["rdma"]["devices"][:1]
    port_of(f, "mlx5_0").update(rate_gbps=100.0, width="1X", speed="NDR")
    r = rdma.ib_link(f, LINK, ctx())
    assert r.status == "fail" and "never 1X" in r.message


def test_a_lost_rail_fails_and_a_spare_second_port_warns() -> None:
    f = ibstat_facts()
    port_of(f, "mlx5_6").update(state="DOWN", phys_state="Polling")
    lost = rdma.ib_link(f, LINK, ctx())
    assert lost.status == "fail" and "1 of 8 InfiniBand ports not active: mlx5_6 port 1 DOWN/Polling" in lost.message
    assert "no link partner" in (lost.remediation or "")
    spare = ibstat_facts()
    dev = next(d for d in spare["rdma"]["devices"] if d["name"] == "mlx5_0")
    dev["ports"].append(dict(dev["ports"][0], port=2, state="DOWN", phys_state="Polling"))  # dual-port HCA, one cable
    r = rdma.ib_link(spare, LINK, ctx())
    assert r.status == "warn" and "mlx5_0 port 2 DOWN/Polling" in r.message


def test_expectation_from_inventory_beats_the_siblings_rule() -> None:
    """All 8 ports agree with each other, yet the inventory says the node is on NDR: every port at
    HDR is a failure the siblings rule alone cannot see."""
    f = ibstat_facts()
    for d in f["rdma"]["devices"]:
        if d["name"] != "mlx5_bond_0":
            d["ports"][0]["rate_gbps"] = 200.0
    assert rdma.ib_link(f, LINK, ctx()).status == "pass"
    r = rdma.ib_link(f, LINK, ctx(expect={"fabric": "ib_ndr400", "rdma_ports": 8}))
    assert r.status == "fail" and "expected 400 Gb/s (ib_ndr400)" in r.message


def test_a_roce_node_where_infiniband_is_expected_fails() -> None:
    f = ibstat_facts("ibverbs/ibstat_h100-node_12hca_roce-ethernet_all-active.txt")
    r = rdma.ib_link(f, LINK, ctx(expect={"fabric": "ib_ndr400"}))
    assert r.status == "fail" and "the training ports are RoCE (Ethernet), expected InfiniBand" in r.message


def test_fewer_ports_than_the_instance_type_has_fails() -> None:
    f = ibstat_facts()
    f["rdma"]["devices"] = [d for d in f["rdma"]["devices"] if d["name"] not in ("mlx5_8", "mlx5_9")]
    r = rdma.ib_link(f, LINK, ctx(expect={"instance_type": "Standard_ND96isr_H100_v5"}))
    assert r.status == "fail" and "6 InfiniBand ports, expected 8" in r.message


def test_no_verbs_ports_skip_and_missing_facts_error() -> None:
    none = {"errors": {}, "rdma": {"source": None, "devices": [], "efa": {}, "flaps": None}}
    assert rdma.ib_link(none, LINK, ctx()).status == "skip"
    assert rdma.ib_link({"errors": {"rdma": "OSError"}, "rdma": None}, LINK, ctx()).status == "error"


def test_cloud_remedy_never_tells_to_reseat() -> None:
    f = ibstat_facts(kind="azure")
    port_of(f, "mlx5_4")["rate_gbps"] = 200.0
    fix = rdma.ib_link(f, LINK, ctx()).remediation or ""
    assert "redeploy" in fix and "reseat" not in fix


# -- counters ------------------------------------------------------------------------------------

def with_counters(**values: int) -> dict[str, Any]:
    f = ibstat_facts()
    for d in f["rdma"]["devices"]:
        d["ports"][0]["counters"] = {"symbol_error": 0, "link_downed": 0, "port_xmit_discards": 0}
    port_of(f, "mlx5_5")["counters"].update(values)
    return f


@pytest.mark.parametrize("values,status,says", [
    ({}, "pass", "within ibqueryerrors' thresholds"),
    ({"symbol_error": 10}, "pass", "within"),                    # ibqueryerrors flags above 10
    ({"symbol_error": 11}, "fail", "mlx5_5 port 1 symbol_error 11 (> 10"),
    ({"link_downed": 12}, "fail", "link_downed 12"),
    ({"port_xmit_discards": 500}, "warn", "port_xmit_discards 500"),
])
def test_port_counters_against_ibqueryerrors_thresholds(values: dict, status: str, says: str) -> None:
    r = rdma.ib_errors(with_counters(**values), ERRS, ctx())
    assert r.status == status and says in r.message


def test_counters_not_read_are_an_error() -> None:
    """ibstat prints no counters: a node judged from ibstat has unknown counters, not clean ones."""
    r = rdma.ib_errors(ibstat_facts(), ERRS, ctx())
    assert r.status == "error" and "no port counters could be read" in r.message


# -- flaps ---------------------------------------------------------------------------------------

def flap_facts(now: float, btime: float, since_boot: bool = False) -> dict[str, Any]:
    text = fixture_text("syslog/syslog_ib6-link-flap_azure.txt")
    parsed = parse_flaps(text, ["ib6"], btime, now, since_boot)
    f = ibstat_facts()
    f["rdma"]["flaps"] = {**parsed, "sources": ["/var/log/syslog"], "since_boot": since_boot, "error": None,
                          "interfaces": ["ib6"], "now": now, "boot_time": btime}
    return f


def test_azhc_flap_capture_fails_within_the_window_and_clears() -> None:
    """AzHC's own fixture: ib6 lost its carrier six times within five seconds. AzHC fails more
    than one loss in 6 h (NHC2005); so does plinth, until the window passes or the node reboots."""
    flapped = time.mktime((2025, 8, 17, 6, 18, 6, 0, 0, -1))
    day_before = flapped - 86400
    r = rdma.ib_flaps(flap_facts(now=flapped + 600, btime=day_before), FLAPS, ctx())
    assert r.status == "fail" and r.measured == 6 and "ib6 lost its carrier x6 in the last 6 h" in r.message
    assert rdma.ib_flaps(flap_facts(now=flapped + 7 * 3600, btime=day_before), FLAPS, ctx()).status == "pass"
    rebooted = rdma.ib_flaps(flap_facts(now=flapped + 600, btime=flapped + 60), FLAPS, ctx())
    assert rebooted.status == "pass" and "6 from earlier boots not counted" in rebooted.message


def test_flaps_skip_without_interfaces_or_logs() -> None:
    assert rdma.ib_flaps(ibstat_facts(), FLAPS, ctx()).status == "skip"
    f = ibstat_facts()
    f["rdma"]["flaps"] = {"counts": {}, "events": [], "before_boot": 0, "sources": [], "since_boot": True,
                          "error": "kernel log not readable without root (dmesg: denied)", "interfaces": ["ib0"]}
    r = rdma.ib_flaps(f, FLAPS, ctx())
    assert r.status == "skip" and "not readable" in r.message


# -- user space ------------------------------------------------------------------------------------

def stack(uverbs: int, ib_uverbs: bool = True) -> dict[str, Any]:
    f = copy.deepcopy(ibstat_facts())
    f["software"] = {"uverbs_devices": uverbs, "modules": {"ib_uverbs": ib_uverbs}}
    return f


def test_rdma_stack_needs_a_verbs_node_per_device() -> None:
    assert rdma.rdma_stack(stack(9), Threshold(expect=True), ctx()).status == "pass"
    r = rdma.rdma_stack(stack(0, ib_uverbs=False), Threshold(expect=True), ctx())
    assert r.status == "fail" and "ib_uverbs is not loaded" in r.message and "modprobe ib_uverbs" in (r.remediation or "")
