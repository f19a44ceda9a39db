"""End to end: `plinth validate` over three real hosts (network namespaces, an sshd in
each) with seeded faults -- node-1's link tbf-shaped to 100 Mbit, node-2 at MTU 1400 -- names the
slow node and the small-MTU node and exits 1. Runs the real CLI entry point in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.netns import SLOW, SMALL_MTU, NsSshFleet

pytestmark = [pytest.mark.root, pytest.mark.slow]

PLINTH = Path(sys.executable).with_name("plinth")


def _inventory(fleet: NsSshFleet, path: Path) -> Path:
    lines = [
        "defaults:",
        f"  user: {fleet.user}",
        "  port: 22",
        f"  identity_file: {fleet.client_key}",
        f"  known_hosts: {fleet.known_hosts}",
        "nodes:",
        *[f"  - {{name: {h.name}, host: {h.address}, role: gpu}}" for h in fleet.fleet.hosts],
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _check(node: dict, check_id: str) -> dict:
    return next(c for c in node["checks"] if c["id"] == check_id)


def test_validate_names_the_slow_node_and_the_small_mtu_node(ns_fleet_sshd: NsSshFleet, tmp_path: Path) -> None:
    if not PLINTH.exists():
        pytest.skip(f"{PLINTH} not installed (pip install -e .)")
    inv = _inventory(ns_fleet_sshd, tmp_path / "inventory.yaml")
    out_json, out_xml, out_html = tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "r.html"
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(PLINTH), "validate", "--inventory", str(inv), "--profile", "distributed_training",
         "--json", str(out_json), "--junit", str(out_xml), "--html", str(out_html)],
        check=False, capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    wall = time.monotonic() - t0
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out_json.read_text())
    nodes = {n["name"]: n for n in report["nodes"]}
    hosts = ns_fleet_sshd.fleet.hosts
    slow, small = hosts[SLOW].name, hosts[SMALL_MTU].name
    assert set(nodes) == {h.name for h in hosts} and all(n["reachable"] for n in nodes.values())

    print(f"\nplinth validate: 3 namespaced hosts over SSH, wall {wall:.1f}s, report duration {report['duration_s']}s")
    for n in report["nodes"]:
        bw, mtu = _check(n, "network.bandwidth"), _check(n, "network.mtu")
        print(f"  {n['name']}: probe {n['duration_s']}s; network.bandwidth {bw['status']} ({bw['measured']} Gbps); "
              f"network.mtu {mtu['status']} ({mtu['measured']})")

    # the slow node: ~0.1 Gbps, the lowest by far; the others' best pair is the unshaped veth
    bw = {name: _check(n, "network.bandwidth") for name, n in nodes.items()}
    assert bw[slow]["status"] == "fail" and bw[slow]["measured"] == pytest.approx(0.1, rel=0.15)
    assert all(bw[name]["measured"] > 5 * bw[slow]["measured"] for name in nodes if name != slow)
    outliers = [c for c in report["fleet"] if c["id"] == "network.bandwidth_outlier" and c["status"] == "warn"]
    assert [c["message"].split(":")[0] for c in outliers] == [slow]
    print(f"  {slow} network.bandwidth: {bw[slow]['message']}\n  fleet: {outliers[0]['message']}")

    # every measured pair is in the report: the ring's two pairs through the slow node read ~0.1
    # Gbps, the third is the unshaped veth; the HTML matrix marks the pairs below the profile's floor
    pairs = {(p["client"], p["server"]): p["bandwidth_gbps"] for p in report["pairs"]}
    assert len(pairs) == 3 and {c for c, _ in pairs} == set(nodes), pairs
    through_slow = [bw for (c, s), bw in pairs.items() if slow in (c, s)]
    other = next(bw for (c, s), bw in pairs.items() if slow not in (c, s))
    assert len(through_slow) == 2 and all(bw == pytest.approx(0.1, rel=0.15) for bw in through_slow), pairs
    assert other > 5 * max(through_slow)
    floor = bw[slow]["threshold"]
    assert out_html.read_text().count('class="v bw-low"') == sum(1 for v in pairs.values() if v < floor)

    # the small-MTU node fails network.mtu; the jumbo-frame nodes do not
    mtu = {name: _check(n, "network.mtu") for name, n in nodes.items()}
    assert mtu[small]["status"] == "fail" and "1400" in mtu[small]["message"]
    assert all(mtu[name]["status"] in ("pass", "warn") for name in nodes if name != small), mtu

    # JUnit: one testcase per node x check; the two seeded faults are failures
    tree = ET.parse(out_xml)
    cases = {(tc.get("classname"), tc.get("name")): tc for tc in tree.iter("testcase")}
    def failed(node: str, check_id: str) -> bool:
        tc = next(tc for (cls, name), tc in cases.items() if node in f"{cls} {name}" and check_id in f"{cls} {name}")
        return tc.find("failure") is not None
    assert failed(slow, "network.bandwidth") and failed(small, "network.mtu")
    assert not failed(hosts[0].name, "network.mtu")
