"""Judges over the pairwise rounds: network.bandwidth (floor, Gbps) and network.latency (ceiling, ms).

They read ``facts["pairwise"]`` (validators/network): the node's value is the best of its pairs,
so a node fails only when every pair it took part in was slow -- the degraded node, not its
healthy neighbours (see validators/network/infer.py). Absent pairwise facts mean the rounds did
not run (a single node, or ``--no-network``): skip with that reason, never pass.

network.bandwidth is a TCP test over the front-end network with a few flows. Where the catalogue
knows the node's instance type, the floor is what that front-end delivers with that many flows
(policies/frontend_network.py: AWS caps one flow at 5 Gbps, 10 in a cluster placement group), so
a healthy p5 pair is not held to its EFA fabric's figure; the profile's ``min`` applies only to
nodes the catalogue does not know. The fabric itself is judged by network.rdma_bandwidth and
network.nccl_* (validators/checks/fabric.py).
"""

from __future__ import annotations

from typing import Any

from policies.frontend_network import deliverable_tcp
from policies.thresholds import Threshold
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import at_least, at_most, fmt, not_applicable, not_run
from validators.results import CheckResult

NOT_RUN = "pairwise network rounds did not run (a single node, or --no-network)"

BANDWIDTH_FIX = (
    "Check this node's NIC and path: link speed/duplex (ethtool), driver (ENA/EFA on AWS), traffic "
    "shaping (tc qdisc show), instance network performance and placement group; its peers' other pairs "
    "are fine, so the fault is on this node's side."
)
LATENCY_FIX = (
    "Place the nodes close together (same AZ/placement group, cluster network), check for proxies, "
    "overlay networks or congested links on this node's path, and look for CPU saturation delaying the stack."
)


def _pairwise(facts: Facts, check_id: str, threshold: Threshold) -> tuple[dict[str, Any] | None, CheckResult | None]:
    pw = facts.get("pairwise")
    if pw is None:
        return None, not_applicable(check_id, NOT_RUN, threshold=threshold)
    if not isinstance(pw, dict):
        return None, not_run(check_id, "pairwise facts are malformed", threshold=threshold)
    problem = (facts.get("errors") or {}).get("pairwise")
    if problem:  # e.g. a NaN a node's client reported (validators/facts_guard.py)
        return None, not_run(check_id, f"pairwise facts unusable: {problem}", threshold=threshold)
    if pw.get("skipped"):
        return None, not_applicable(check_id, str(pw["skipped"]), threshold=threshold)
    if pw.get("error"):
        return None, not_run(check_id, f"pairwise test could not run: {pw['error']}", threshold=threshold)
    return pw, None


def _peer_summary(pw: dict[str, Any], key: str, unit: str) -> str:
    parts = []
    for p in pw.get("peers") or []:
        arrow = "->" if p.get("role") == "client" else "<-"
        value = p.get(key)
        shown = f"{fmt(value)} {unit}" if value is not None else f"error: {p.get('error')}"
        parts.append(f"{arrow} {p.get('peer')}: {shown}")
    return "; ".join(parts)


@check("network.bandwidth")
def bandwidth(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    pw, early = _pairwise(facts, "network.bandwidth", threshold)
    if early is not None or pw is None:
        return early or not_run("network.bandwidth", "no pairwise facts")
    value = pw.get("bandwidth_gbps")
    tool = pw.get("tool") or "builtin"
    peers = pw.get("peers") or []
    what = f"best node-to-node bandwidth of {len(peers)} pair(s) ({tool})"
    floor, basis = None, ""
    if ctx.instance is not None:  # the instance's front-end with this many flows, not the profile's figure
        streams = pw.get("streams")
        flows = streams if isinstance(streams, int) else 1
        d = deliverable_tcp(ctx.instance, flows, ctx.expect.get("placement_group"))
        floor, basis = d.floor_gbps, f" ({d.describe(ctx.instance.name)})"
    res = at_least("network.bandwidth", round(value, 3) if isinstance(value, (int, float)) else None,
                   threshold, what=what, remediation=BANDWIDTH_FIX, unit="Gbps", floor=floor)
    detail = _peer_summary(pw, "bandwidth_gbps", "Gbps")
    note = (f" [{pw['note']}]" if pw.get("note") else "") + basis
    return res.model_copy(update={"message": f"{res.message} [{detail}]{note}" if detail else res.message + note})


@check("network.latency")
def latency(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    pw, early = _pairwise(facts, "network.latency", threshold)
    if early is not None or pw is None:
        return early or not_run("network.latency", "no pairwise facts")
    value = pw.get("latency_ms")
    what = "median TCP round trip to the nearest peer"
    res = at_most("network.latency", round(value, 3) if isinstance(value, (int, float)) else None,
                  threshold, what=what, remediation=LATENCY_FIX, unit="ms")
    detail = _peer_summary(pw, "latency_ms", "ms")
    return res.model_copy(update={"message": f"{res.message} [{detail}]" if detail else res.message})
