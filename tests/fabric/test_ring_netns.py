"""The builtin ring all-reduce on real hosts: network namespaces on a bridge, links shaped with tc
tbf, the node tool streamed to each host exactly as over SSH (validators/fabric/ring.py).

An expert's reading of these runs: a 3-node ring whose node-1 NIC is held to 50 Mbit/s in both
directions moves at node-1's pace -- every step waits for the chunk crossing node-1 -- so the
all-reduce takes what the ring model says for a 50 Mbit/s slowest hop, and node-1, not its
neighbours, is the node to pull from the job."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support.netns import (
    SLOW,
    FleetOwner,
    NetnsTransport,
    NsFleet,
    fleet_or_skip,
    tbf_args,
)
from validators.fabric import ring_model
from validators.fabric.ring import RingMember, RingOptions, run_ring

pytestmark = [pytest.mark.root, pytest.mark.slow]

PY = "/usr/bin/python3"  # the hosts' interpreter: not root's pyenv shim
MIB = 1 << 20
# The issue's +-15% bar is measured by `make bench` (benchmarks/fabric.py) on a quiet machine. Here,
# on a 2-core CI runner busy with other tests, TCP at 50 Mbit/s over tbf runs 1.0-1.25x the model:
# the band still fails a ring that is not pipelined (a whole-message-per-hop ring takes 3x the model
# with 3 nodes) and a shaping that does not hold (faster than the link allows).
FAST_BOUND, SLOW_BOUND = 0.85, 1.5
# far below what the unshaped veths carry even on a busy machine (Python on shared CPUs: 0.3-1.3
# Gbps), so "below a third of the fastest link" can only be the shaped one
RATE_MBIT = 50


def _members(fleet: NsFleet) -> list[RingMember]:
    return [RingMember(h.name, h.address, NetnsTransport(h.netns, h.name), PY) for h in fleet.hosts]


def _fleet(shape: dict[int, str]) -> Iterator[NsFleet]:
    owner = FleetOwner()  # the session fleet already carries this process's PID in its names
    try:
        with fleet_or_skip(3, shape=shape, owner_pid=owner.pid) as fleet:
            yield fleet
    finally:
        owner.close()


@pytest.fixture
def slow_fleet() -> Iterator[NsFleet]:
    """3 hosts, jumbo frames everywhere, node-1's link shaped to 50 Mbit/s both ways (the session
    fleet's MTU-1400 node would add its own framing overhead to the comparison with the model)."""
    yield from _fleet({SLOW: f"{RATE_MBIT}mbit"})


def test_ring_names_the_shaped_node_and_takes_the_models_time(slow_fleet: NsFleet) -> None:
    size, iterations = 4 * MIB, 5
    facts = run_ring(_members(slow_fleet), RingOptions(message_bytes=size, iterations=iterations, warmup=1, timeout_s=90))
    assert facts["status"] == "ok", facts.get("reason")
    assert facts["wrong"] == 0 and facts["iterations"] == iterations
    ns_fleet = slow_fleet
    slow = ns_fleet.hosts[SLOW].name
    assert [n["node"] for n in facts["slow_nodes"]] == [slow] and facts["slow_links"] == []
    # both of node-1's links carry ~0.1 Gbps; the third link (node-2 -> node-0) is far faster
    links = {(x["from"], x["to"]): x["gbps"] for x in facts["links"]}
    rate = RATE_MBIT / 1000
    # never faster than the shaping allows; slower by at most what the time band allows (a busy CI runner
    # measured 0.036 Gbps on one of them: the rate read inside the ring includes the rank's CPU waits)
    for link in (("node-0", "node-1"), ("node-1", "node-2")):
        assert rate / SLOW_BOUND <= links[link] <= rate / FAST_BOUND, (link, links[link])
    assert links[("node-2", "node-0")] > 3 * max(links[("node-0", "node-1")], links[("node-1", "node-2")])
    model = ring_model.ring_seconds(size, len(ns_fleet.hosts), rate)
    measured = facts["sync_ms"] / 1000
    print(f"\nring all-reduce 4 MiB over 3 namespaces, node-1 at {RATE_MBIT} Mbit/s: {measured * 1000:.0f} ms "
          f"(model {model * 1000:.0f} ms, {measured / model:.3f}x); each iteration {facts['sync_ms_each']} ms; "
          f"busbw {facts['busbw_gbs'] * 1000:.1f} MB/s; slow nodes {facts['slow_nodes']}")
    assert FAST_BOUND * model <= measured <= SLOW_BOUND * model


def test_a_ring_too_slow_for_every_iteration_stops_with_a_figure_not_a_timeout(slow_fleet: NsFleet) -> None:
    """~0.9 s per all-reduce at 50 Mbit/s, 20 asked for, a 10 s bound: rank 0 stops the ring at a
    barrier once the next iteration would pass 60% of the bound, and every rank stops there with it."""
    t0 = time.monotonic()
    facts = run_ring(_members(slow_fleet), RingOptions(message_bytes=4 * MIB, iterations=20, warmup=1, timeout_s=10))
    assert facts["status"] == "ok", facts.get("reason")
    assert facts["stopped_early"] and 1 <= facts["iterations"] < 20
    assert [n["node"] for n in facts["slow_nodes"]] == [slow_fleet.hosts[SLOW].name]
    assert time.monotonic() - t0 < 10 + 5


@pytest.fixture
def one_way_fleet() -> Iterator[NsFleet]:
    """3 hosts; only what node-2 SENDS is shaped (its egress), so only the link node-2 -> node-0 is slow."""
    for fleet in _fleet({}):
        h = fleet.host(2)
        subprocess.run(fleet.exec_argv(2, ["tc", "qdisc", "add", "dev", "eth0", *tbf_args(f"{RATE_MBIT}mbit", h.mtu)]),
                       check=True, capture_output=True, timeout=15)
        yield fleet


def test_a_one_way_slow_link_is_named_as_the_link_not_a_node(one_way_fleet: NsFleet) -> None:
    # 5 iterations: each link's rate is a median, and one stalled step on this shared machine once made an
    # unshaped link read as a third of the fastest
    facts = run_ring(_members(one_way_fleet), RingOptions(message_bytes=2 * MIB, iterations=5, warmup=1, timeout_s=90))
    assert facts["status"] == "ok", facts.get("reason")
    assert facts["slow_nodes"] == []
    assert [(x["from"], x["to"]) for x in facts["slow_links"]] == [("node-2", "node-0")]
    assert facts["bottleneck"]["from"] == "node-2"


def test_a_rank_that_cannot_start_is_an_error_with_its_reason_not_a_hang(ns_fleet: NsFleet) -> None:
    members = _members(ns_fleet)
    members[1] = RingMember(members[1].name, members[1].address, members[1].transport, "/nonexistent/python3")
    facts = run_ring(members, RingOptions(message_bytes=MIB, iterations=1, warmup=0, connect_timeout_s=3, timeout_s=10))
    assert facts["status"] == "error"
    # the node whose tool never ran is named first; its neighbours only saw it missing
    assert facts["reason"].startswith("ring all-reduce failed: node-1: no result")
    assert facts["seconds"] < 30
