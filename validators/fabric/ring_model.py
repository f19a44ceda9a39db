"""The builtin ring all-reduce, on paper: its cost model, the nccl-tests bandwidth figures, the
seed's gradient-sync bands, and which node or link slows the ring (pure, no I/O).

**Model.** A ring all-reduce of S bytes over n ranks is a reduce-scatter then an all-gather, each
n-1 steps; in every step every rank sends one chunk of S/n bytes to the next rank and receives one
from the previous. A step cannot start before the previous one delivered its chunk, so the whole
ring moves at the pace of its slowest hop: T = 2(n-1) x (S/n x 8 / B_slowest + latency per hop).

**Figures** as nccl-tests reports them (NVIDIA/nccl-tests doc/PERFORMANCE.md): algbw = S / T,
busbw = algbw x 2(n-1)/n -- the bandwidth each rank's links carried, comparable with the link
speed whatever n is. GB/s = 10^9 bytes/s, link rates in Gbps.

**Attribution.** Because every step waits on the slowest hop, per-step times are the same
everywhere and cannot name anyone. Step 0 of the reduce-scatter is the exception: each rank sends
its OWN chunk (no dependency), right behind the barrier's release token, so the receiver's time
from the token to the chunk's last byte is that hop's own transfer time (node_fabric.py: with
several channels per hop, their step-0 rates summed). With one such rate per link (median over
the timed iterations):

* a link is slow when its rate is below ``slow_fraction`` of the fastest link's;
* a NODE is named when both its links (in from its predecessor, out to its successor) are slow:
  two different peers agree that the fault is on its side (a shaped or congested NIC, a starved
  CPU) -- the same reasoning as the pairwise rounds (validators/network/infer.py);
* a slow link whose two ends each have a fast link is named as a LINK (the path between them, or
  the sender's egress alone: the ring cannot tell those apart);
* with two nodes both links join the same two nodes: a slow node cannot be told from its peer.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

# below a third of the fastest link: a fault (a link negotiated down, a shaped or saturated NIC is
# 10x off), not the 2x that CPU scheduling or cross traffic makes between healthy links
DEFAULT_SLOW_FRACTION = 1 / 3


def chunk_bytes(size_bytes: int, n: int) -> int:
    return max(1, math.ceil(size_bytes / n))


def algbw_gbs(size_bytes: float, seconds: float) -> float:
    return size_bytes / seconds / 1e9


def busbw_gbs(size_bytes: float, seconds: float, n: int) -> float:
    """nccl-tests' all-reduce bus bandwidth: algbw x 2(n-1)/n."""
    return algbw_gbs(size_bytes, seconds) * 2 * (n - 1) / n


def ring_seconds(size_bytes: int, n: int, link_gbps: float, hop_latency_s: float = 0.0) -> float:
    """The model's time for one all-reduce when the slowest hop carries ``link_gbps``."""
    step = chunk_bytes(size_bytes, n) * 8 / (link_gbps * 1e9) + hop_latency_s
    return 2 * (n - 1) * step


def band(ms: float, excellent_ms: float, acceptable_ms: float) -> str:
    """The seed's gradient-sync bands: < excellent_ms excellent, < acceptable_ms acceptable, else poor."""
    if ms < excellent_ms:
        return "excellent"
    return "acceptable" if ms < acceptable_ms else "poor"


def attribute(names: Sequence[str], in_link_gbps: Sequence[float | None],
              slow_fraction: float = DEFAULT_SLOW_FRACTION) -> dict[str, Any]:
    """Slow nodes and slow links of a ring. ``in_link_gbps[i]`` is the rate of the link
    names[i-1] -> names[i] (measured by rank i). See the module docstring."""
    n = len(names)
    rates = [r for r in in_link_gbps if isinstance(r, (int, float)) and r > 0]
    out: dict[str, Any] = {"slow_nodes": [], "slow_links": [], "best_link_gbps": max(rates) if rates else None}
    if n < 2 or not rates:
        return out
    floor = slow_fraction * max(rates)
    slow = [isinstance(r, (int, float)) and r < floor for r in in_link_gbps]
    if n == 2:  # both links join the same two nodes: only a one-way slow link can be named
        out["note"] = "two nodes: a slow node cannot be told from its only peer"
        out["slow_links"] = [_link(names, i, in_link_gbps) for i in range(n) if slow[i]]
        return out
    node_slow = [slow[j] and slow[(j + 1) % n] for j in range(n)]  # in-link j, out-link j+1
    out["slow_nodes"] = [{"node": names[j], "in_gbps": in_link_gbps[j], "out_gbps": in_link_gbps[(j + 1) % n]}
                         for j in range(n) if node_slow[j]]
    # link i joins rank i-1 -> rank i: explained by a slow node at either end
    out["slow_links"] = [_link(names, i, in_link_gbps) for i in range(n)
                         if slow[i] and not node_slow[i] and not node_slow[(i - 1) % n]]
    return out


def _link(names: Sequence[str], i: int, rates: Sequence[float | None]) -> dict[str, Any]:
    return {"from": names[(i - 1) % len(names)], "to": names[i], "gbps": rates[i]}


ECHOES = ("closed the connection", "did not finish", "cannot connect", "did not connect", "nothing from the previous")


def _rank_error(names: Sequence[str], outputs: Sequence[dict[str, Any] | None]) -> str | None:
    """The reasons ranks failed, the likely root cause first: a rank whose tool gave no result at
    all, then other errors; last the ranks that only saw a neighbour vanish or never arrive."""
    errors = []
    for name, out in zip(names, outputs):
        if out is None or (out.get("error") and "rank" in out and "iterations" not in out):
            errors.append((0, f"{name}: {(out or {}).get('error') or 'no result'}"))
        elif out.get("error"):
            echo = any(e in str(out["error"]) for e in ECHOES)
            errors.append((2 if echo else 1, f"{name}: {out['error']}"))
    if not errors:
        return None
    errors.sort(key=lambda e: e[0])
    return "; ".join(text for _, text in errors)


def summarize(names: Sequence[str], outputs: Sequence[dict[str, Any] | None], message_bytes: int,
              slow_fraction: float = DEFAULT_SLOW_FRACTION) -> dict[str, Any]:
    """Controller facts for one ring run from every rank's output (in ring order)."""
    n = len(names)
    facts: dict[str, Any] = {
        "status": "ok", "reason": None, "nodes": list(names), "n": n, "message_bytes": message_bytes,
        "chunk_bytes": chunk_bytes(message_bytes, n),
        "ranks": [{"node": name, "port": (o or {}).get("port"), "error": (o or {}).get("error")}
                  for name, o in zip(names, outputs)],
    }
    error = _rank_error(names, outputs)
    if error:
        facts.update(status="error", reason=f"ring all-reduce failed: {error}")
        return facts
    iters = [list((o or {}).get("iterations") or []) for o in outputs]
    count = min(len(it) for it in iters)
    if count == 0:
        facts.update(status="error", reason="ring all-reduce completed no timed iteration")
        return facts
    # an iteration is over when its slowest rank is done
    per_iter = [max(float(it[k]["seconds"]) for it in iters) for k in range(count)]
    seconds = statistics.median(per_iter)
    chunk = facts["chunk_bytes"]
    links = []
    for i, it in enumerate(iters):
        step0 = statistics.median(float(x["step0_s"]) for x in it[:count])
        rates = [float(x["in_gbps"]) for x in it[:count] if isinstance(x.get("in_gbps"), (int, float))]
        gbps = statistics.median(rates) if rates else (chunk * 8 / step0 / 1e9 if step0 > 0 else None)
        links.append({"from": names[(i - 1) % n], "to": names[i], "step0_ms": round(step0 * 1000, 3),
                      "gbps": round(gbps, 6) if gbps else None})
    rates = [link["gbps"] for link in links]
    valid = [link for link in links if link["gbps"] is not None]
    if any((o or {}).get("stopped_early") for o in outputs):
        facts["stopped_early"] = True  # too slow for every iteration asked within the bound
    facts.update(
        iterations=count,
        sync_ms=round(seconds * 1000, 3),
        sync_ms_each=[round(s * 1000, 3) for s in per_iter],
        algbw_gbs=round(algbw_gbs(message_bytes, seconds), 6),
        busbw_gbs=round(busbw_gbs(message_bytes, seconds, n), 6),
        wrong=sum(int(x.get("wrong") or 0) for it in iters for x in it[:count]),
        links=links,
        bottleneck=min(valid, key=lambda link: link["gbps"]) if valid else None,
        **attribute(names, rates, slow_fraction),
    )
    return facts


__all__ = ["DEFAULT_SLOW_FRACTION", "algbw_gbs", "attribute", "band", "busbw_gbs", "chunk_bytes", "ring_seconds",
           "summarize"]
