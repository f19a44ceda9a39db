"""Fabric tests between nodes: pairs in O(1) rounds (RDMA bandwidth, NCCL across two nodes) and one
whole-fleet NCCL run.

Pairs come from the pairwise schedule (validators/network/schedule.py: a ring, at most 3 rounds
whatever the fleet size) and the slow node is named the way the TCP rounds name it
(validators/network/infer.py: a node's value is its BEST pair; a degraded node drags down both of
its pairs, a healthy one keeps a good pair).

- RDMA: perftest ``ib_write_bw`` on InfiniBand/RoCE nodes, libfabric ``fi_pingpong -p efa`` on EFA
  nodes (the tool follows facts["rdma"]). The server side runs behind the node tool's rendezvous
  (node_fabric.py ``serve-tool``): it takes a free port from this run's candidates and tells the
  client which, so concurrent runs never meet on a port.
- NCCL: ``mpirun`` over SSH from the pair's client node (or the fleet's first node) -- the way the
  field launches nccl-tests (AWS's EFA guide, awsome-distributed-training) -- with the
  libfabric/NCCL environment for the node's fabric (nccl.fabric_env) and data checking on (-c 1).
  The nodes' own SSH between them (keys, known_hosts) is the cluster's; plinth only uses it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from validators.fabric import nccl, rdma
from validators.fabric.expect import fabric_port
from validators.fabric.nccl import FabricKind
from validators.fabric.node_tests import gpu_count
from validators.fabric.payload import node_command
from validators.fabric.ports import PortRange, candidates
from validators.fabric.runs import entry, last_json, output_text, run_tool, skipped
from validators.network.infer import PairResult, node_facts
from validators.network.schedule import Pair, ring_rounds
from validators.transport.base import RunningCommand, Transport, TransportError

RDMA_BOUND_S = 60.0
NCCL_PAIR_BOUND_S = 300.0
GPUDIRECT_FAMILIES = ("p4d", "p4de", "p5", "p5e", "p5en")  # EFA with GPUDirect RDMA (FI_EFA_USE_DEVICE_RDMA)


@dataclass
class Peer:
    """One node as the fabric tests see it."""

    name: str
    address: str  # where the other nodes reach it (the inventory host)
    transport: Transport
    facts: Mapping[str, Any]
    tools: Mapping[str, str | None] = field(default_factory=dict)
    python: str = "python3"
    ssh_port: int = 22
    instance_type: str | None = None


def fabric_kind(facts: Mapping[str, Any]) -> FabricKind:
    """efa | ib | roce | tcp, from the probe's facts["rdma"]."""
    rdma = facts.get("rdma")
    rdma = rdma if isinstance(rdma, Mapping) else {}
    efa = rdma.get("efa")
    efa = efa if isinstance(efa, Mapping) else {}
    if efa.get("present"):
        return "efa"
    found = fabric_port(facts)
    if found is None:
        return "tcp"
    return "roce" if str(found[1].get("link_layer", "")).lower() == "ethernet" else "ib"


def rdma_device(facts: Mapping[str, Any]) -> str | None:
    """The fabric's RDMA device (ib_write_bw -d): InfiniBand before a front-end Ethernet one."""
    found = fabric_port(facts)
    return found[0] if found else None


# --- the rounds -------------------------------------------------------------------------------

PairMeasure = Callable[[Peer, Peer], tuple[PairResult, dict[str, Any]]]


def pair_rounds(peers: Sequence[Peer], measure: PairMeasure, bound_s: float, tool: str,
                value_key: str) -> dict[str, dict[str, Any]]:
    """Every node's entry for a pair test: ring pairs in rounds, each pair bounded.

    ``measure(client, server)`` returns the PairResult (its bandwidth_gbps: the pair's figure in
    Gbps, for the inference) and the pair's detail (the parsed run, kept for the judge)."""
    by_name = {p.name: p for p in peers}
    names = list(by_name)
    results: list[PairResult] = []
    details: dict[tuple[str, str], dict[str, Any]] = {}
    for round_pairs in ring_rounds(names):
        pool = ThreadPoolExecutor(max_workers=min(64, len(round_pairs)), thread_name_prefix="plinth-fabric-pair")
        futures = {pool.submit(measure, by_name[p.client], by_name[p.server]): p for p in round_pairs}
        done, not_done = wait(futures, timeout=bound_s + 30)
        for fut in done:
            pair: Pair = futures[fut]
            try:
                res, detail = fut.result()
            except Exception as exc:  # noqa: BLE001 - a bug costs one pair, not the run
                res, detail = PairResult(pair.client, pair.server, tool, error=f"{exc.__class__.__name__}: {exc}"), {}
            results.append(res)
            details[(pair.client, pair.server)] = detail
        for fut in not_done:
            pair = futures[fut]
            results.append(PairResult(pair.client, pair.server, tool, error=f"pair did not finish within {bound_s + 30:.0f} s"))
        pool.shutdown(wait=False, cancel_futures=True)
    out: dict[str, dict[str, Any]] = {}
    for name, f in node_facts(names, results).items():
        runs = []
        for p in f["peers"]:
            key = (name, p["peer"]) if p["role"] == "client" else (p["peer"], name)
            detail = details.get(key) or {}
            p[value_key] = detail.get("value")
            runs.append({"peer": p["peer"], "role": p["role"], "result": detail.get("result"), "fabric": detail.get("fabric")})
        best = max((p for p in f["peers"] if p.get(value_key) is not None), key=lambda p: p[value_key], default=None)
        out[name] = entry("error" if f["error"] else "ok", f["error"], tool=tool, peers=f["peers"], runs=runs,
                          value=best[value_key] if best else None, best_peer=best["peer"] if best else None,
                          result=next((r["result"] for r in runs if best and r["peer"] == best["peer"]
                                       and r["role"] == best["role"]), None),
                          **{k: f[k] for k in ("partial_errors", "note") if k in f})
    return out


# --- RDMA bandwidth ---------------------------------------------------------------------------


def _server_text(cmd: RunningCommand | None, grace_s: float) -> str:
    if cmd is None:
        return ""
    try:
        res = cmd.wait(grace_s)
    except Exception:  # noqa: BLE001 - the server's words are a bonus for the reason
        return ""
    finally:
        cmd.stop()
    doc = last_json(res.stdout, "tool_port") or {}
    return str(doc.get("error") or doc.get("output") or "")[-300:]


def rdma_measure(kind: str, provider: str, port_range: PortRange, bound_s: float, token: str,
                 rnd: random.Random) -> PairMeasure:
    """ib_write_bw (ib/roce) or fi_pingpong (efa) from client to server behind the rendezvous."""

    def measure(client: Peer, server: Peer) -> tuple[PairResult, dict[str, Any]]:
        tool = "fi_pingpong" if kind == "efa" else "ib_write_bw"
        meet, ports = candidates(port_range, rnd), candidates(port_range, rnd)
        s_bin, c_bin = server.tools.get(tool), client.tools.get(tool)
        try:
            if kind == "efa":
                srv_argv = {p: rdma.fi_pingpong_server_argv(provider, p, timeout_s=bound_s) for p in ports}
                cli_argv = {p: rdma.fi_pingpong_client_argv(server.address, provider, p, timeout_s=bound_s) for p in ports}
            else:
                s_dev, c_dev = rdma_device(server.facts) or "", rdma_device(client.facts) or ""
                srv_argv = {p: rdma.ib_write_bw_server_argv(s_dev, p, timeout_s=bound_s) for p in ports}
                cli_argv = {p: rdma.ib_write_bw_client_argv(server.address, c_dev, p, timeout_s=bound_s) for p in ports}
        except (ValueError, TypeError) as exc:  # a device or address the tool cannot take as one word
            return PairResult(client.name, server.name, tool, error=f"{tool}: {exc}"), {}

        def on(binary: str | None, argv: Sequence[str]) -> list[str]:
            """The argv with the tool at the path found on that node (PATH or the tool dirs)."""
            return [binary or a if a == tool else a for a in argv]

        serve_args = {"mode": "serve-tool", "ports": meet, "token": token, "deadline_s": bound_s,
                      "tool": [[p, on(s_bin, a)] for p, a in srv_argv.items()]}
        client_args = {"mode": "client-tool", "host": server.address, "ports": meet, "token": token,
                       "timeout_s": bound_s, "tool": {str(p): on(c_bin, a) for p, a in cli_argv.items()}}
        listener: RunningCommand | None = None
        try:
            argv, stdin = node_command(server.python, serve_args)
            listener = server.transport.start(argv, stdin=stdin)
            argv, stdin = node_command(client.python, client_args)
            res = client.transport.run(argv, stdin=stdin, timeout=bound_s + 30)
        except TransportError as exc:
            _server_text(listener, 0.5)
            return PairResult(client.name, server.name, tool, error=f"{tool}: {exc}"), {}
        out = last_json(res.stdout, "tool_port")
        why_server = _server_text(listener, 5.0)
        if not isinstance(out, dict) or out.get("error") or out.get("timed_out"):
            reason = (out or {}).get("error") or ("did not finish within its bound" if (out or {}).get("timed_out")
                                                  else f"no result: {output_text(res)[-200:]}")
            return PairResult(client.name, server.name, tool,
                              error=f"{tool} {client.name} -> {server.name}: {reason}"
                                    + (f"; server said: {why_server}" if why_server else "")), {}
        text, code = str(out.get("output") or ""), out.get("exit")
        parsed = (rdma.parse_fi_pingpong(text, provider=provider, exit_code=code) if kind == "efa"
                  else rdma.parse_ib_write_bw(text, exit_code=code))
        if not parsed.get("ok"):
            return PairResult(client.name, server.name, tool,
                              error=f"{tool} {client.name} -> {server.name}: {parsed.get('error') or 'output not understood'}"), \
                {"result": parsed}
        gbps = rdma.measured_gbps(parsed)
        return (PairResult(client.name, server.name, tool, bandwidth_gbps=gbps),
                {"value": gbps, "result": parsed, "port": out.get("tool_port")})

    return measure


# --- NCCL across nodes ------------------------------------------------------------------------


def nccl_env(peers: Sequence[Peer], mpirun: str = "mpirun") -> tuple[FabricKind | None, dict[str, str]]:
    """(fabric kind every peer shares, or None; NCCL's environment for it, ``mpirun`` the launcher's)."""

    kinds: set[FabricKind] = {fabric_kind(p.facts) for p in peers}
    kind = kinds.pop() if len(kinds) == 1 else None
    gdr = kind == "efa" and all((p.instance_type or "").split(".")[0] in GPUDIRECT_FAMILIES for p in peers)
    env = nccl.fabric_env(kind or "tcp", gpudirect_rdma=gdr, mpirun=mpirun)
    if kind is None:  # mixed fabrics: NCCL picks; nothing to insist on, so nothing pinned to sockets either
        env.pop("NCCL_NET", None)
    return kind, env


def nccl_run(launcher: Peer, peers: Sequence[Peer], params: Mapping[str, Any], max_bytes: int,
             bound_s: float, ssh: Mapping[str, Any]) -> dict[str, Any]:
    """One mpirun of all_reduce_perf over ``peers`` from ``launcher``: an entry (``fabric``: the
    fabric NCCL must have used)."""

    ranks = min(gpu_count(p.facts) for p in peers)
    if ranks < 1:
        return skipped("NCCL across nodes needs a GPU on every node")
    mpirun = launcher.tools.get("mpirun") or "mpirun"
    kind, env = nccl_env(peers, mpirun)
    try:
        argv = nccl.mpirun_argv(
            [p.address for p in peers], ranks, binary=launcher.tools.get("all_reduce_perf") or "all_reduce_perf",
            env=env, ssh_port=launcher.ssh_port, min_bytes=int(params.get("min_bytes", 8 << 20)), max_bytes=max_bytes,
            iters=int(params.get("iters", 20)), warmup=int(params.get("warmup", 5)), mpirun=mpirun,
            allow_run_as_root=bool((launcher.facts.get("system") or {}).get("is_root")), timeout_s=bound_s, **ssh)
    except ValueError as exc:  # an address Open MPI cannot take (IPv6), a path that is not a plain word
        return entry("error", f"mpirun: {exc}")
    what = f"mpirun all_reduce_perf over {len(peers)} nodes x {ranks} GPUs from {launcher.name}"
    result = run_tool(launcher.transport, argv, bound_s, what, lambda text, code: nccl.parse_all_reduce(text, exit_code=code))
    result.update(fabric=kind, launcher=launcher.name, hosts=[p.name for p in peers])
    return result


def nccl_measure(params: Mapping[str, Any], max_bytes: int, bound_s: float, ssh: Mapping[str, Any]) -> PairMeasure:
    def measure(client: Peer, server: Peer) -> tuple[PairResult, dict[str, Any]]:
        res = nccl_run(client, [client, server], params, max_bytes, bound_s, ssh)
        busbw = (res.get("result") or {}).get("peak_busbw_gbs") if res["status"] == "ok" else None
        return (PairResult(client.name, server.name, "nccl", bandwidth_gbps=busbw * 8 if busbw is not None else None,
                           error=None if busbw is not None else (res.get("reason") or "no busbw")),
                {"value": busbw, "result": res.get("result"), "fabric": res.get("fabric")})

    return measure


def run_pairs(peers: Sequence[Peer], measure: PairMeasure, bound_s: float, tool: str, value_key: str,
              lacking: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """pair_rounds over ``peers`` plus a ``skipped`` entry for every node in ``lacking`` (why)."""
    out = {name: skipped(reason) for name, reason in lacking.items()}
    if len(peers) < 2:
        why = "needs 2 or more nodes that can run it"
        out.update({p.name: skipped(f"{tool}: {why} ({len(peers)} here)") for p in peers})
        return out
    t0 = time.monotonic()
    out.update(pair_rounds(peers, measure, bound_s, tool, value_key))
    for name in (p.name for p in peers):
        if out[name].get("seconds") is None:
            out[name]["seconds"] = round(time.monotonic() - t0, 3)
    return out


__all__ = ["Peer", "fabric_kind", "nccl_measure", "nccl_run", "pair_rounds", "rdma_device",
           "rdma_measure", "run_pairs"]
