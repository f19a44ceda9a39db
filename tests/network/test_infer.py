"""Pairs -> per-node facts: the degraded node is named, its healthy neighbours are not."""

from __future__ import annotations

from validators.network.infer import PairResult, node_facts
from validators.network.schedule import ring_rounds

FAST, SLOW = 9.0, 0.1


def _ring_results(nodes: list[str], slow: set[str], down: set[str] = frozenset()) -> list[PairResult]:  # type: ignore[assignment]
    out = []
    for rnd in ring_rounds(nodes):
        for p in rnd:
            if p.client in down or p.server in down:
                out.append(PairResult(p.client, p.server, "builtin", error="connection refused"))
                continue
            bw = SLOW if (p.client in slow or p.server in slow) else FAST
            lat = 5.0 if (p.client in slow or p.server in slow) else 0.05
            out.append(PairResult(p.client, p.server, "builtin", bandwidth_gbps=bw, latency_ms=lat))
    return out


def test_slow_node_alone_is_named_in_rings_of_every_size() -> None:
    for n in range(3, 9):
        nodes = [f"n{i}" for i in range(n)]
        for victim in nodes:
            facts = node_facts(nodes, _ring_results(nodes, {victim}))
            slow = {name for name, f in facts.items() if f["bandwidth_gbps"] < 1}
            assert slow == {victim}, (n, victim, facts)
            high_latency = {name for name, f in facts.items() if f["latency_ms"] > 1}
            assert high_latency == {victim}


def test_two_adjacent_slow_nodes_are_both_named() -> None:
    nodes = [f"n{i}" for i in range(6)]
    facts = node_facts(nodes, _ring_results(nodes, {"n2", "n3"}))
    assert {n for n, f in facts.items() if f["bandwidth_gbps"] < 1} == {"n2", "n3"}


def test_node_with_every_pair_failed_gets_error_and_peers_keep_their_values() -> None:
    nodes = ["a", "b", "c", "d"]
    facts = node_facts(nodes, _ring_results(nodes, set(), down={"c"}))
    assert facts["c"]["error"] and "connection refused" in facts["c"]["error"]
    assert facts["c"]["bandwidth_gbps"] is None
    for n in ("b", "d"):  # one pair with c failed, the other stands
        assert facts[n]["error"] is None
        assert facts[n]["bandwidth_gbps"] == FAST
        assert facts[n]["partial_errors"]
    assert facts["a"]["error"] is None and "partial_errors" not in facts["a"]


def test_peers_record_role_and_two_node_note() -> None:
    facts = node_facts(["a", "b"], [PairResult("a", "b", "iperf3", bandwidth_gbps=SLOW, latency_ms=0.1),
                                    PairResult("b", "a", "iperf3", bandwidth_gbps=SLOW, latency_ms=0.1)])
    assert facts["a"]["tool"] == "iperf3"
    assert {(p["peer"], p["role"]) for p in facts["a"]["peers"]} == {("b", "client"), ("b", "server")}
    assert "cannot be told" in facts["a"]["note"]
