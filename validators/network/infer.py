"""From measured pairs to per-node facts: pure, no I/O.

A pair's bandwidth is limited by its slower end and its latency is the sum of both ends' delays,
so a pair alone cannot say which node is at fault. The ring gives every node two pairs with two
different peers (as client and as server). The inference:

* a node's bandwidth is the MAX over its pairs, its latency the MIN: a node with one good pair
  has a healthy NIC and path (the slow pair is explained by the peer), while a degraded node drags
  down BOTH of its pairs and so is the only one whose best pair is still bad. In a ring 0->1->2->0
  with node 2 shaped to 100 Mbit: pairs 1->2 and 2->0 are slow, 0->1 is fast; nodes 0 and 1 each
  keep a fast pair, node 2's best pair is 100 Mbit -> node 2 alone is named.
* a node whose pairs all failed (even if some latency pings got through before the link died)
  gets ``error`` with the reasons; a failed pair does not blame the peer that has another,
  successful pair.
* with exactly two nodes both pairs join the same two nodes: a slow node cannot be told from its
  peer, and both are reported with the pair's value (said in ``note``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from validators.results import PairMeasurement


@dataclass(frozen=True)
class PairResult:
    client: str
    server: str
    tool: str  # "iperf3" | "builtin"
    bandwidth_gbps: float | None = None
    latency_ms: float | None = None
    error: str | None = None


def node_facts(nodes: Iterable[str], results: Iterable[PairResult]) -> dict[str, dict[str, Any]]:
    """facts["pairwise"] for every node (the shape is documented in validators/network/__init__)."""
    results = list(results)
    names = list(nodes)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        peers: list[dict[str, Any]] = []
        for r in results:
            if name not in (r.client, r.server):
                continue
            role = "client" if r.client == name else "server"
            peers.append({
                "peer": r.server if role == "client" else r.client,
                "role": role,
                "bandwidth_gbps": r.bandwidth_gbps,
                "latency_ms": r.latency_ms,
                "error": r.error,
            })
        bws = [p["bandwidth_gbps"] for p in peers if p["bandwidth_gbps"] is not None]
        lats = [p["latency_ms"] for p in peers if p["latency_ms"] is not None]
        errors = [f"with {p['peer']} ({p['role']}): {p['error']}" for p in peers if p["error"]]
        tools = sorted({r.tool for r in results if name in (r.client, r.server)})
        facts: dict[str, Any] = {
            "bandwidth_gbps": max(bws) if bws else None,
            "latency_ms": min(lats) if lats else None,
            "tool": tools[0] if len(tools) == 1 else ("+".join(tools) or None),
            "peers": peers,
            "error": None,
        }
        if not peers:
            facts["error"] = "no pair measured for this node"
        elif all(p["error"] for p in peers):  # a latency sample alone does not make a measured node
            facts["error"] = "every pair failed: " + "; ".join(errors)
        elif errors:
            facts["partial_errors"] = errors  # one pair failed, the other stands for the node
        if len(names) == 2:
            facts["note"] = "two nodes: a slow node cannot be told from its only peer"
        out[name] = facts
    return out


def error_facts(nodes: Iterable[str], reason: str) -> dict[str, dict[str, Any]]:
    """Every node's pairwise facts when the rounds could not run at all."""
    return {
        n: {"bandwidth_gbps": None, "latency_ms": None, "tool": None, "peers": [], "error": reason}
        for n in nodes
    }


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def measured_pairs(facts_by_node: Mapping[str, Mapping[str, Any]]) -> list[PairMeasurement]:
    """The pairs back out of every node's facts["pairwise"] (the inverse of :func:`node_facts`):
    each pair once, from its client's side, in the order the nodes come. For the report's pair
    matrix; anything not of the documented shape is left out rather than guessed at."""
    out: list[PairMeasurement] = []
    for name, facts in facts_by_node.items():
        pw = facts.get("pairwise")
        if not isinstance(pw, dict) or not isinstance(pw.get("peers"), list):
            continue
        peers, tool = pw["peers"], pw.get("tool")
        tool = tool if isinstance(tool, str) else None
        for p in peers:
            if not isinstance(p, dict) or p.get("role") != "client" or not isinstance(p.get("peer"), str):
                continue
            error = p.get("error")
            out.append(PairMeasurement(client=name, server=p["peer"], tool=tool, bandwidth_gbps=_finite(p.get("bandwidth_gbps")),
                                       latency_ms=_finite(p.get("latency_ms")), error=error if isinstance(error, str) else None))
    return out
