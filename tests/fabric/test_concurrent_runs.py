"""Two `plinth validate` runs against the same nodes at once: with fixed ports (5201/5202) the
second listener could not bind and the run reported network failures that were not there. With
ports chosen per run, each run gives the verdicts it gives alone. Real CLI, real sshd in each of
three namespaced hosts (node-1's link shaped to 100 Mbit/s, node-2 at MTU 1400)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.netns import SLOW, SMALL_MTU, NsSshFleet

pytestmark = [pytest.mark.root, pytest.mark.slow]

PLINTH = Path(sys.executable).with_name("plinth")
# bounds far from what the namespace fleet measures, so a verdict can only change if a run breaks
PROFILE = """\
name: concurrency_check
description: network and fabric checks whose bounds sit far from the namespace fleet's values
thresholds:
  system.cpu_cores:  {min: 1, unit: cores}
  network.bandwidth: {min: 1, unit: Gbps}
  network.latency:   {max: 100, unit: ms}
  network.mtu:       {min: 9000, unit: bytes}
  network.allreduce: {max: 30000, unit: ms, params: {message_mib: 1, iterations: 3, warmup: 1, excellent_ms: 20000, timeout_s: 90}}
"""


def _inventory(fleet: NsSshFleet, path: Path) -> Path:
    nodes = "".join(f"  - {{name: {h.name}, host: {h.address}}}\n" for h in fleet.fleet.hosts)
    path.write_text(f"defaults: {{user: {fleet.user}, port: 22, identity_file: {fleet.client_key}, "
                    f"known_hosts: {fleet.known_hosts}}}\nnodes:\n{nodes}")
    return path


def _start(inv: Path, profile: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([str(PLINTH), "validate", "-i", str(inv), "-p", str(profile), "--disk-test-mb", "0",
                             "--json", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _verdicts(path: Path) -> tuple[dict[tuple[str, str], str], list[tuple[str, str]]]:
    report = json.loads(path.read_text())
    nodes = {(n["name"], c["id"]): c["status"] for n in report["nodes"] for c in n["checks"]}
    fleet = [(c["id"], c["status"]) for c in report["fleet"]]
    return nodes, fleet


def test_two_runs_at_once_give_the_verdicts_of_one_run_alone(ns_fleet_sshd: NsSshFleet, tmp_path: Path) -> None:
    if not PLINTH.exists():
        pytest.skip(f"{PLINTH} not installed (pip install -e .)")
    inv = _inventory(ns_fleet_sshd, tmp_path / "inventory.yaml")
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE)
    alone = _start(inv, profile, tmp_path / "alone.json")
    out_alone = alone.communicate(timeout=300)[0]
    assert alone.returncode == 1, out_alone[-3000:]  # the seeded faults fail, nothing else
    t0 = time.monotonic()
    runs = [_start(inv, profile, tmp_path / f"run{i}.json") for i in range(2)]
    outputs = [r.communicate(timeout=300)[0] for r in runs]
    print(f"\ntwo concurrent runs took {time.monotonic() - t0:.1f}s")
    assert [r.returncode for r in runs] == [1, 1], [o[-3000:] for o in outputs]

    solo_nodes, solo_fleet = _verdicts(tmp_path / "alone.json")
    hosts = ns_fleet_sshd.fleet.hosts
    slow, small = hosts[SLOW].name, hosts[SMALL_MTU].name
    failing = {k for k, v in solo_nodes.items() if v != "pass"}
    assert failing == {(slow, "network.bandwidth"), (small, "network.mtu")}, solo_nodes
    assert solo_fleet[0] == ("network.allreduce", "pass")
    for i in range(2):
        nodes, fleet = _verdicts(tmp_path / f"run{i}.json")
        assert nodes == solo_nodes, (i, {k: (solo_nodes.get(k), v) for k, v in nodes.items() if solo_nodes.get(k) != v})
        # the ring's verdict; whether node-1 is also named depends on how fast the unshaped links run
        # while two rings share this machine's CPUs, which is not what this test is about
        assert fleet[0] == solo_fleet[0], (i, fleet, solo_fleet)
        report = json.loads((tmp_path / f"run{i}.json").read_text())
        assert "ring all-reduce failed" not in report["fleet"][0]["message"]
        assert not any("cannot listen" in c["message"] or "cannot connect" in c["message"]
                       for n in report["nodes"] for c in n["checks"])
