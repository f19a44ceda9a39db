"""Judges over the active fabric tests (run by validators/fabric/phase.py; the facts are described
there). Thin on purpose: the verdict on a tool's parsed output is its module's (validators/fabric:
nccl.evaluate, dcgm.evaluate, rdma.evaluate_bandwidth); here only whether the test ran (``skip`` /
``error`` with the reason, never ``pass``), which run stands for the node, and what healthy
hardware of its kind measures (the catalogue, validators/fabric/expect.py).

network.allreduce is plinth's own: the seed's gradient-synchronisation yardstick (an all-reduce
step across the ranks: < 10 ms excellent, < 50 ms acceptable, else poor -- "GPU utilisation may be
below 50%") at the message size the profile sets. The time is NCCL's, read from the fleet's
all_reduce_perf run at that size, when that run succeeded (it is the path training uses); else
the builtin ring all-reduce's (TCP: CPU nodes, edge boxes, nodes without nccl-tests). Either way
the builtin ring names the node or link that slows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from policies.thresholds import Profile, Threshold
from validators.checks._gpu import devices as gpu_devices
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import fmt, not_applicable, not_run
from validators.fabric import dcgm, expect, nccl, rdma
from validators.fabric.ring_model import band
from validators.results import CheckResult, Status

NOT_RUN = "fabric tests did not run (--no-fabric, --quick, or facts gathered without them)"
ALLREDUCE_FIX = (
    "Find the slow hop first (the named node or link: its NIC, link speed, qdiscs, CPU), then the fabric: "
    "EFA/InfiniBand for NCCL, jumbo frames, one placement group; GPU utilisation falls below 50% when a "
    "step's gradient sync is poor."
)


def _entry(facts: Facts, test: str, check_id: str, threshold: Threshold) -> tuple[dict[str, Any] | None, CheckResult | None]:
    fab = facts.get("fabric")
    if fab is None:
        return None, not_applicable(check_id, NOT_RUN, threshold=threshold)
    if not isinstance(fab, Mapping):
        return None, not_run(check_id, "fabric facts are malformed", threshold=threshold)
    if fab.get("skipped"):
        return None, not_applicable(check_id, str(fab["skipped"]), threshold=threshold)
    e = fab.get(test)
    if not isinstance(e, Mapping):
        return None, not_applicable(check_id, f"the fabric phase did not run {test}", threshold=threshold)
    if e.get("status") == "skipped":
        return None, not_applicable(check_id, str(e.get("reason") or "not run"), threshold=threshold)
    if e.get("status") != "ok" and not isinstance(e.get("result"), Mapping):
        return None, not_run(check_id, str(e.get("reason") or "the test could not run"), threshold=threshold)
    return dict(e), None


def _instance_type(ctx: CheckContext) -> str | None:
    return ctx.instance.name if ctx.instance is not None else ctx.expect.get("instance_type")


def _peers(e: Mapping[str, Any], key: str, unit: str) -> str:
    parts = []
    for p in e.get("peers") or []:
        arrow = "->" if p.get("role") == "client" else "<-"
        value = p.get(key)
        parts.append(f"{arrow} {p.get('peer')}: {fmt(value)} {unit}" if value is not None else f"{arrow} {p.get('peer')}: error: {p.get('error')}")
    return f" [{'; '.join(parts)}]" if parts else ""


def _with(result: CheckResult, suffix: str) -> CheckResult:
    return result.model_copy(update={"message": result.message + suffix}) if suffix else result


@check("gpu.dcgm_diag")
def dcgm_diag(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    no_gpu = gpu_devices("gpu.dcgm_diag", facts, threshold, ctx)[1]  # no driver: one fail (gpu.count), not two
    if no_gpu is not None:
        return no_gpu
    e, early = _entry(facts, "dcgm_diag", "gpu.dcgm_diag", threshold)
    if early is not None or e is None:
        return early or not_run("gpu.dcgm_diag", "no DCGM result")
    return dcgm.evaluate("gpu.dcgm_diag", e.get("result"), threshold)


@check("gpu.nccl_intranode")
def nccl_intranode(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    no_gpu = gpu_devices("gpu.nccl_intranode", facts, threshold, ctx)[1]
    if no_gpu is not None:
        return no_gpu
    e, early = _entry(facts, "nccl_intranode", "gpu.nccl_intranode", threshold)
    if early is not None or e is None:
        return early or not_run("gpu.nccl_intranode", "no NCCL result")
    exp = expect.intranode(facts, _instance_type(ctx), ctx.expect.get("gpu_model"))
    gpus = len((facts.get("gpu") or {}).get("devices") or [])
    return nccl.evaluate("gpu.nccl_intranode", e.get("result"), threshold, exp.busbw_gbs if exp else None,
                         f"NCCL all_reduce_perf within the node ({gpus} GPUs)")


@check("network.nccl_internode")
def nccl_internode(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    e, early = _entry(facts, "nccl_internode", "network.nccl_internode", threshold)
    if early is not None or e is None:
        return early or not_run("network.nccl_internode", "no NCCL result")
    exp = expect.internode([_instance_type(ctx)])
    expected = exp.busbw_gbs if exp else None
    runs = [r for r in e.get("runs") or [] if isinstance(r.get("result"), Mapping)]
    # corruption on any pair is never hidden behind the node's best pair
    bad = next((r for r in runs if (r["result"].get("wrong_total") or 0) > 0 or (r["result"].get("out_of_bounds") or 0) > 0), None)
    chosen = bad or next((r for r in runs if r["peer"] == e.get("best_peer")), None)
    if chosen is None:
        return not_run("network.nccl_internode", str(e.get("reason") or "no pair completed"), threshold=threshold)
    what = f"NCCL all_reduce_perf with {chosen['peer']} (best of {len(e.get('peers') or [])} pair(s))"
    res = nccl.evaluate("network.nccl_internode", chosen["result"], threshold, expected, what, fabric=chosen.get("fabric"))
    return _with(res, _peers(e, "busbw_gbs", "GB/s") + (f" [{e['note']}]" if e.get("note") else ""))


@check("network.rdma_bandwidth")
def rdma_bandwidth(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    e, early = _entry(facts, "rdma_bandwidth", "network.rdma_bandwidth", threshold)
    if early is not None or e is None:
        return early or not_run("network.rdma_bandwidth", "no RDMA result")
    what = f"{e.get('tool')} with {e.get('best_peer')} (best of {len(e.get('peers') or [])} pair(s))"
    if e.get("tool") == "fi_pingpong":
        # one message in flight: latency-bound, it proves the EFA path works; EFA's bandwidth is
        # network.nccl_internode's to judge (AWS publishes no fi_pingpong bandwidth)
        res = rdma.evaluate_bandwidth("network.rdma_bandwidth", e.get("result"), threshold.model_copy(update={"min": None}),
                                      None, what)
        note = " [EFA bandwidth is judged by network.nccl_internode]"
    else:
        res = rdma.evaluate_bandwidth("network.rdma_bandwidth", e.get("result"), threshold, expect.rdma_link_gbps(facts), what)
        note = ""
    return _with(res, _peers(e, "gbps", "Gbps") + (f" [{e['note']}]" if e.get("note") else "") + note)


def _controller(controller: Facts, test: str, check_id: str, threshold: Threshold) -> tuple[dict[str, Any] | None, CheckResult | None]:
    return _entry(controller, test, check_id, threshold)


@check("network.nccl_fleet", scope="fleet", reads=())
def nccl_fleet(facts_by_node: Mapping[str, Facts], controller: Facts, threshold: Threshold, profile: Profile) -> list[CheckResult]:
    e, early = _controller(controller, "nccl_fleet", "network.nccl_fleet", threshold)
    if early is not None or e is None:
        return [early or not_run("network.nccl_fleet", "no NCCL result")]
    exp = expect.internode(e.get("instance_types") or [None])
    hosts = e.get("hosts") or []
    what = f"NCCL all_reduce_perf across {len(hosts)} nodes (launched from {e.get('launcher')})"
    res = nccl.evaluate("network.nccl_fleet", e.get("result"), threshold, exp.busbw_gbs if exp else None, what,
                        fabric=e.get("fabric"))
    left = e.get("left_out") or {}
    return [_with(res, f" [left out: {'; '.join(f'{n}: {r}' for n, r in left.items())}]" if left else "")]


def nccl_time_ms(run: Mapping[str, Any] | None, size_bytes: int) -> float | None:
    """All-reduce time of an nccl-tests run at ``size_bytes`` (linear between the two sizes around
    it; mean of out-of-place and in-place), or None when the run did not cover that size."""
    if not isinstance(run, Mapping) or not run.get("ok"):
        return None
    points = []
    for row in run.get("rows") or []:
        times = [float(m["time_us"]) for m in (row.get("out_of_place"), row.get("in_place"))
                 if isinstance(m, Mapping) and isinstance(m.get("time_us"), (int, float))]
        if isinstance(row.get("size_bytes"), int) and times:
            points.append((row["size_bytes"], sum(times) / len(times) / 1000))
    points.sort()
    for (s0, t0), (s1, t1) in pairwise(points):
        if s0 <= size_bytes <= s1:
            return t0 + (t1 - t0) * (size_bytes - s0) / (s1 - s0) if s1 > s0 else t0
    exact = [t for s, t in points if s == size_bytes]
    return exact[0] if exact else None


def _ring_detail(ring: Mapping[str, Any]) -> str:
    parts = []
    for node in ring.get("slow_nodes") or []:
        parts.append(f"{node['node']} slows the ring (in {fmt(node['in_gbps'])} Gbps, out {fmt(node['out_gbps'])} Gbps)")
    for link in ring.get("slow_links") or []:
        parts.append(f"link {link['from']} -> {link['to']} slows the ring ({fmt(link['gbps'])} Gbps)")
    best = ring.get("best_link_gbps")
    if parts and best:
        parts.append(f"fastest link {fmt(best)} Gbps")
    if not parts and ring.get("bottleneck"):
        b = ring["bottleneck"]
        parts.append(f"slowest link {b['from']} -> {b['to']} at {fmt(b['gbps'])} Gbps, none markedly slower than the rest")
    return "; ".join(parts)


@check("network.allreduce", scope="fleet", reads=())
def allreduce(facts_by_node: Mapping[str, Facts], controller: Facts, threshold: Threshold, profile: Profile) -> list[CheckResult]:
    cid = "network.allreduce"
    ring, early = _controller(controller, "allreduce", cid, threshold)
    if early is not None or ring is None:
        return [early or not_run(cid, "no all-reduce result")]
    acceptable = threshold.max if threshold.max is not None else 50.0
    excellent = float(threshold.params.get("excellent_ms", 10.0))
    size = int(ring.get("message_bytes") or 0)
    mib = f"{size / (1 << 20):g} MiB"
    if (ring.get("wrong") or 0) > 0:
        return [CheckResult.make(cid, "fail", f"builtin ring all-reduce of {mib}: {ring['wrong']} chunk(s) came back wrong "
                                 "(data corrupted between nodes)", measured=ring["wrong"], threshold=0, unit="chunks",
                                 remediation="Data changed in flight: check NIC offloads, memory errors and middleboxes on the ring's path")]
    nccl_ms = nccl_time_ms(((controller.get("fabric") or {}).get("nccl_fleet") or {}).get("result"), size)
    ms, source = (nccl_ms, "NCCL (all_reduce_perf across the fleet)") if nccl_ms is not None else \
        (ring.get("sync_ms"), f"the builtin ring over TCP, {ring.get('n')} nodes, busbw {fmt(ring.get('busbw_gbs'))} GB/s")
    if not isinstance(ms, (int, float)):
        return [not_run(cid, "the all-reduce gave no time", threshold=threshold)]
    label = band(ms, excellent, acceptable)
    status: Status = "pass" if label == "excellent" else ("warn" if label == "acceptable" else "fail")
    message = (f"gradient sync of {mib}: {fmt(ms)} ms, {label} (excellent < {fmt(excellent)} ms, acceptable < "
               f"{fmt(acceptable)} ms) via {source}")
    if nccl_ms is not None and isinstance(ring.get("sync_ms"), (int, float)):
        message += f"; the builtin TCP ring took {fmt(ring['sync_ms'])} ms"
    if ring.get("stopped_early"):
        message += f" (the ring stopped after {ring.get('iterations')} iteration(s): more would not fit its time bound)"
    detail = _ring_detail(ring)
    results = [CheckResult.make(cid, status, message + (f" [{detail}]" if detail else ""), measured=round(ms, 3),
                                threshold=acceptable, unit="ms", remediation=None if status == "pass" else ALLREDUCE_FIX)]
    for node in ring.get("slow_nodes") or []:
        results.append(CheckResult.make(
            cid, "warn", f"{node['node']}: both of its ring links are slow (in {fmt(node['in_gbps'])} Gbps, out "
            f"{fmt(node['out_gbps'])} Gbps; fastest link {fmt(ring.get('best_link_gbps'))} Gbps): it paces every step",
            measured=node["out_gbps"], unit="Gbps", remediation=f"Check {node['node']}'s NIC, link speed, qdiscs and CPU load."))
    for link in ring.get("slow_links") or []:
        results.append(CheckResult.make(
            cid, "warn", f"link {link['from']} -> {link['to']}: {fmt(link['gbps'])} Gbps while both nodes have a fast link "
            f"(fastest {fmt(ring.get('best_link_gbps'))} Gbps): the path between them, or {link['from']}'s egress",
            measured=link["gbps"], unit="Gbps", remediation="Check the switch ports, cabling and routing between these two nodes."))
    return results
