"""RDMA pairs with the real libfabric fi_pingpong between namespaced hosts. This kernel has no EFA
(or RDMA) device, so the provider is libfabric's ``tcp`` -- the same fi_pingpong, the same
rendezvous and rounds as ``-p efa`` on an EFA node; only the provider differs. fi_pingpong keeps
one 64 KiB message in flight: latency-bound, it proves the path works (what AWS's EFA guide uses
it for), so the judge passes every node that completed its pairs and leaves bandwidth to NCCL."""

from __future__ import annotations

import socket
import sys
from typing import Any

import pytest

from policies.thresholds import Profile, Threshold
from tests.support.netns import NetnsTransport, NsFleet
from validators.checks.base import CheckContext, judge_node
from validators.fabric.phase import FabricFacts, FabricOptions, Peer, run_fabric
from validators.fabric.ports import PortRange
from validators.network import node_net

pytestmark = [pytest.mark.root, pytest.mark.slow]

PY = "/usr/bin/python3"
EFA_FACTS: dict[str, Any] = {"rdma": {"devices": [{"name": "efa_0", "driver": "efa", "ports": []}],
                                      "efa": {"present": True, "providers": 1, "domains": ["efa_0-rdm"]}}}


def test_fi_pingpong_pairs_over_the_rendezvous_prove_every_path(ns_fleet: NsFleet, fabric_tools: None) -> None:
    peers = [Peer(h.name, h.address, NetnsTransport(h.netns, h.name), EFA_FACTS, python=PY) for h in ns_fleet.hosts]
    prof = Profile(name="rdma", description="d", thresholds={
        "network.rdma_bandwidth": Threshold(min=100, unit="Gbps", params={"timeout_s": 60})})
    rng = PortRange(28200, 28299)
    out = FabricFacts()
    run_fabric(peers, prof, FabricOptions(fi_provider="tcp", port_range=rng), out)
    entries = {name: out.nodes[name]["rdma_bandwidth"] for name in out.nodes}
    print(f"\nfi_pingpong -p tcp best pair per node (Gbps): { {n: e['value'] for n, e in entries.items()} }")
    for name, e in entries.items():
        assert e["status"] == "ok", (name, e)
        assert e["tool"] == "fi_pingpong" and e["value"] > 0
        assert {p["role"] for p in e["peers"]} == {"client", "server"} and all(p["error"] is None for p in e["peers"])
        [res] = judge_node({**EFA_FACTS, "fabric": out.nodes[name]}, CheckContext(profile=prof, node=name))
        # the profile's 100 Gbps is not applied to a latency-bound ping-pong: the path works
        assert res.status == "pass" and "judged by network.nccl_internode" in res.message, res


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def test_a_tool_server_walks_past_a_taken_port_and_past_one_that_loses_the_race() -> None:
    squatter = socket.socket()
    squatter.bind(("0.0.0.0", 0))
    squatter.listen(1)
    taken = squatter.getsockname()[1]
    # below the kernel's ephemeral range, as plinth's own --port-range: a port bound to 0 and closed
    # again can be handed to any process's next outgoing connection before the server binds it
    free_port = next(p for p in range(28900, 29000) if _bindable(p))
    raced = [sys.executable, "-c", "print('bind: Address already in use'); raise SystemExit(1)"]
    serve = [sys.executable, "-c", (f"import socket,time; s=socket.socket(); s.bind(('0.0.0.0', {free_port})); s.listen(1); "
             "time.sleep(30)")]
    with squatter:
        # the taken port is skipped, the one whose server reports "in use" makes way, the next one runs
        proc, port, why = node_net.start_on_free_port(socket.AF_INET, [[taken, serve], [0, raced], [free_port, serve]],
                                                      deadline=1e12)
        try:
            assert (port, why) == (free_port, None) and proc is not None and proc.poll() is None
        finally:
            if proc is not None:
                proc.kill()
                proc.wait()
