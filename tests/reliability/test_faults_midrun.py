"""Faults that strike while a run is in flight: the SSH connection killed mid-probe (the sshd child
serving the session is SIGKILLed), and a link cut between namespaced hosts during the pairwise
bandwidth round (`ip link set <veth> down` from a timer thread)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.support import (
    NodeDir,
    all_errors_with,
    assert_complete,
    descendants,
    run_validate,
    ssh_node,
    write_inventory,
)
from tests.support.netns import NsSshFleet
from tests.support.sshd import SshdHandle, remove_workdir, start_sshd
from validators.network import NetOptions
from validators.runner import RunOptions, probe_facts

pytestmark = pytest.mark.root


def test_connection_killed_mid_probe_is_an_error_for_that_node_only(
    sshd_server: SshdHandle, node_dir: NodeDir, monkeypatch: pytest.MonkeyPatch,
) -> None:
    victim_sshd = start_sshd(client_key_path=sshd_server.client_key_path)  # its children serve only the victim
    work = Path(tempfile.mkdtemp(prefix="plinth-rel-kill-"))
    started = node_dir.markers / "victim-started"
    started.unlink(missing_ok=True)
    slow_py = node_dir.script("py-slow", f': > {started}\nsleep 30\nexec /usr/bin/python3 "$@"\n')
    killed: list[int] = []

    def kill_when_probing() -> None:
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in descendants(victim_sshd.pid):  # the session's sshd processes and the command under them
            subprocess.run(["kill", "-KILL", str(pid)], check=False, capture_output=True)
            killed.append(pid)

    killer = threading.Thread(target=kill_when_probing)
    try:
        inv = write_inventory(work / "inv.yaml", sshd_server, [
            ssh_node(sshd_server, "ok"),
            {"name": "victim", "host": victim_sshd.host, "port": victim_sshd.port, "python": str(slow_py),
             "known_hosts": str(victim_sshd.known_hosts)},
        ])
        killer.start()
        run = run_validate(monkeypatch, ["-i", str(inv), "-p", "single_gpu", "--no-network", "--timeout", "25"], work)
        killer.join()
        assert killed, "no sshd session process to kill"
        assert run.exit_code == 1, run.output[-1500:]
        assert_complete(run.report, "single_gpu", ["ok", "victim"])
        victim = run.node("victim")
        assert victim["reachable"]
        all_errors_with(victim, f"{victim_sshd.host}:{victim_sshd.port}: SSH connection lost while running {slow_py}")
        # the connection's end is noticed at once, not after the 25 s budget
        assert victim["duration_s"] < 10, victim
        assert not any(c["status"] == "error" for c in run.node("ok")["checks"])
    finally:
        victim_sshd.stop()
        remove_workdir(victim_sshd)
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.slow
def test_link_cut_during_the_bandwidth_round_errors_that_node_and_the_others_finish(
    ns_fleet_sshd: NsSshFleet, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three namespaced hosts over SSH; once every probe is back (the pairwise rounds start next),
    a timer cuts node-0's link. node-0's network checks are `error` with the reason; node-1 and
    node-2 still measure each other; everything is bounded by the pair timeout."""
    fleet = ns_fleet_sshd.fleet
    veth = fleet.hosts[0].veth_root
    probes_done = threading.Event()
    done: list[str] = []
    lock = threading.Lock()

    def gather(transport: Any, node: Any, timeout: float, opts: RunOptions) -> dict[str, Any]:
        facts = probe_facts(transport, node, timeout, opts)
        with lock:
            done.append(node.name)
            if len(done) == len(fleet.hosts):
                probes_done.set()
        return facts

    def cut() -> None:
        if probes_done.wait(60):
            time.sleep(0.5)  # inside round 1: listeners up, streams running
            subprocess.run(["ip", "link", "set", veth, "down"], check=True)

    work = Path(tempfile.mkdtemp(prefix="plinth-rel-linkcut-"))
    inv = work / "inv.yaml"
    inv.write_text("\n".join([
        "defaults:", f"  user: {ns_fleet_sshd.user}", f"  identity_file: {ns_fleet_sshd.client_key}",
        f"  known_hosts: {ns_fleet_sshd.known_hosts}", "nodes:",
        *[f"  - {{name: {h.name}, host: {h.address}}}" for h in fleet.hosts],
    ]) + "\n")
    cutter = threading.Thread(target=cut)
    cutter.start()
    try:
        run = run_validate(monkeypatch, ["-i", str(inv), "-p", "single_gpu", "--timeout", "30"], work,
                           gather=gather, net_options=NetOptions(duration_s=2.0, timeout_s=6.0, use_iperf3=False, pings=5))
    finally:
        cutter.join()
        subprocess.run(["ip", "link", "set", veth, "up"], check=True)
        shutil.rmtree(work, ignore_errors=True)
    assert probes_done.is_set()
    assert run.exit_code == 1, run.output[-2000:]
    names = [h.name for h in fleet.hosts]
    assert_complete(run.report, "single_gpu", names)
    cut_node = {c["id"]: c for c in run.node(names[0])["checks"]}
    for check_id in ("network.bandwidth", "network.latency"):
        assert cut_node[check_id]["status"] == "error", cut_node[check_id]
        assert "every pair failed" in cut_node[check_id]["message"], cut_node[check_id]
    for name in names[1:]:  # they still have each other
        bw = next(c for c in run.node(name)["checks"] if c["id"] == "network.bandwidth")
        assert bw["status"] in ("pass", "warn", "fail") and bw["measured"], bw
    assert run.report["duration_s"] < 60, run.report["duration_s"]
