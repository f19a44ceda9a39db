"""network.mtu judges the interfaces training crosses, against what the platform allows: a healthy
InfiniBand cluster with a 1500 front end passes, RoCE interfaces need room for 4096-byte RoCE
frames, EFA nodes get AWS's 9001, and no other cloud is told AWS's numbers."""

from __future__ import annotations

from typing import Any

import pytest

from policies.thresholds import Threshold
from tests.checks.facts import ctx
from tests.probe.helpers import fixture_text, probe_env, quiet_options, run_probe
from validators.checks import network_local
from validators.probe.gather.rdma import parse_ibstat

MTU = Threshold(min=9000, unit="bytes")


def nic(name: str, mtu: int, *, default: bool = False, kind: int = 1) -> dict[str, Any]:
    return {"name": name, "type": kind, "mtu": mtu, "operstate": "up", "speed_mbps": None, "virtual": False, "default_route": default}


def node(platform: str, front_mtu: int, devices: list[dict[str, Any]] | None = None, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"errors": {}, "system": {"platform": {"kind": platform}},
            "nics": [nic("lo", 65536, kind=772), nic("eth0", front_mtu, default=True), *(extra or [])],
            "rdma": {"source": "sysfs", "error": None, "devices": devices or [], "efa": {}, "flaps": None}}


def infiniband(rel: str = "ibverbs/ibstat_h100-node_8x-ndr400-ib-plus-1eth_all-active.txt") -> list[dict[str, Any]]:
    devices = parse_ibstat(fixture_text(rel))
    for i, d in enumerate(devices):
        d["netdevs"] = [f"ib{i}"] if d["ports"][0]["link_layer"] == "InfiniBand" else [f"ens{i}np0"]
    return devices


def test_infiniband_cluster_with_a_1500_front_end_passes() -> None:
    """8x NDR InfiniBand (real capture): NCCL moves gradients with verbs, not IP. The 1500-byte
    front end carries storage and bootstrap traffic only; it is named, not failed."""
    ipoib = [nic(f"ib{i}", 2044, kind=32) for i in range(8)]
    r = network_local.mtu(node("bare-metal", 1500, infiniband(), ipoib), MTU, ctx())
    assert r.status == "pass" and r.message.startswith("training traffic uses InfiniBand verbs, not IP; front end eth0 MTU 1500")


def test_roce_interfaces_need_room_for_4096_byte_roce_frames() -> None:
    """12-HCA RoCE node (real capture): the eight 400G ports are the GPU rails. At MTU 1500 RoCE
    falls back to 1024-byte frames; from 4200 up the 4096-byte RoCE MTU fits."""
    devices = infiniband("ibverbs/ibstat_h100-node_12hca_roce-ethernet_all-active.txt")
    rails = [n for d in devices if d["hca_type"] == "MT4129" for n in d["netdevs"]]
    others = [n for d in devices if d["hca_type"] != "MT4129" for n in d["netdevs"]]
    ok = network_local.mtu(node("bare-metal", 1500, devices, [nic(n, 9000) for n in rails] + [nic(n, 1500) for n in others]), MTU, ctx())
    assert ok.status == "pass" and ok.message.startswith("8 RoCE interfaces at MTU >= 4200") and ok.measured == 9000
    low = network_local.mtu(node("bare-metal", 1500, devices, [nic(n, 1500) for n in rails]), MTU, ctx())
    assert low.status == "fail" and low.threshold == 4200 and "1024-byte" in low.message
    assert "mtu 9000" in (low.remediation or "") and "9001" not in (low.remediation or "")


def test_efa_node_on_aws_warns_below_9001() -> None:
    efa = [{"name": "rdmap16s27", "driver": "efa", "ports": [{"port": 1, "state": "ACTIVE", "link_layer": "Unknown"}]}]
    r = network_local.mtu(node("aws", 1500, efa), MTU, ctx())
    assert r.status == "warn" and "NCCL traffic rides EFA" in r.message and "mtu 9001" in (r.remediation or "")
    assert network_local.mtu(node("aws", 9001, efa), MTU, ctx()).status == "pass"


@pytest.mark.parametrize("platform,mtu,status,bound,fix_has,fix_lacks", [
    ("aws", 9001, "pass", 9000, None, None),
    ("aws", 1500, "fail", 9000, "mtu 9001", "gcloud"),
    ("gcp", 1460, "fail", 8896, "--mtu=8896", "9001"),
    ("gcp", 8896, "pass", 8896, None, None),           # the most Google Cloud allows
    ("azure", 1500, "fail", 3900, "mtu 3900", "9001"),
    ("bare-metal", 1500, "fail", 9000, "mtu 9000", "9001"),
    ("unknown", 1500, "fail", 9000, "mtu 9000", "9001"),
])
def test_without_rdma_the_front_end_is_judged_against_its_platform(platform: str, mtu: int, status: str, bound: int,
                                                                   fix_has: str | None, fix_lacks: str | None) -> None:
    r = network_local.mtu(node(platform, mtu), MTU, ctx())
    assert (r.status, r.threshold, r.measured) == (status, bound, mtu)
    if fix_has and fix_lacks:
        assert fix_has in (r.remediation or "") and fix_lacks not in (r.remediation or "")


def test_unreadable_mtu_and_missing_bound_are_errors() -> None:
    assert network_local.mtu(node("aws", None), MTU, ctx()).status == "error"  # type: ignore[arg-type]
    assert network_local.mtu(node("aws", 1500), Threshold(unit="bytes"), ctx()).status == "error"


def test_mtu_on_this_machine(tmp_path) -> None:
    """The real probe on this machine (no RDMA): the default-route interface is judged."""
    facts = run_probe(quiet_options(tmp_path, disk_test_mb=0), probe_env(tmp_path / "bin"))
    r = network_local.mtu(facts, MTU, ctx())
    primary = network_local.primary_nic(facts["nics"])
    assert primary is not None and r.measured == primary["mtu"]
    assert r.status == ("pass" if primary["mtu"] >= r.threshold else "fail")
