"""The fabric phase of a run: which active fabric tests the profile asks for, in what order, within
what bounds, and where their results land in the facts.

A test runs when the profile has its check's line (``params:`` on that line tune it)::

    test            check id                 scope  what runs
    dcgm_diag       gpu.dcgm_diag            node   dcgmi diag -r <level>
    nccl_intranode  gpu.nccl_intranode       node   all_reduce_perf -g <GPUs> (NVLink/NVSwitch)
    rdma_bandwidth  network.rdma_bandwidth   node   ib_write_bw / fi_pingpong -p efa, pairs in rounds
    nccl_internode  network.nccl_internode   node   mpirun all_reduce_perf, pairs in rounds
    nccl_fleet      network.nccl_fleet       fleet  mpirun all_reduce_perf over every node
    allreduce       network.allreduce        fleet  the builtin ring all-reduce (TCP, stdlib)

Order: tool discovery (one round trip per node), the node-local tests (nodes in parallel, one test
at a time per node: DCGM and NCCL would fight over the GPUs), the pair rounds, the fleet runs.
Each test bounds itself; a test that cannot run leaves ``skipped`` or ``error`` with the reason and
the others go on.

FACTS (validators/fabric/runs.py has the entry shape)::

    node facts["fabric"] = {"tools": {name: path|null}, "<node test>": entry, ...}
                         | {"skipped": reason}          (the phase did not run: --no-fabric, --quick)
    entry for a pair test also has: "tool", "peers": [{"peer", "role", "<value_key>", "error"}],
        "runs": [{"peer", "role", "result"}], "value" (best pair), "best_peer",
        "partial_errors"?, "note"?  (value_key: "gbps" for rdma_bandwidth, "busbw_gbs" for nccl_internode)
    controller facts["fabric"] = {"nccl_fleet": entry + {"fabric", "launcher", "hosts"},
                                  "allreduce": ring facts (validators/fabric/ring_model.py: summarize)}

A run cut short (Ctrl-C, SIGTERM) keeps what finished; :meth:`FabricFacts.close_unfinished`
marks every planned test that did not as ``error: interrupted``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from policies.errors import ConfigError
from policies.thresholds import Profile, Threshold
from validators.fabric import node_tests, rounds
from validators.fabric.payload import node_command
from validators.fabric.ports import PortRange, run_token
from validators.fabric.ring import RingMember, RingOptions, run_ring
from validators.fabric.rounds import Peer
from validators.fabric.runs import entry, last_json, skipped
from validators.transport.base import TransportError

CHECK_OF = {
    "dcgm_diag": "gpu.dcgm_diag",
    "nccl_intranode": "gpu.nccl_intranode",
    "rdma_bandwidth": "network.rdma_bandwidth",
    "nccl_internode": "network.nccl_internode",
    "nccl_fleet": "network.nccl_fleet",
    "allreduce": "network.allreduce",
}
FLEET_TESTS = ("nccl_fleet", "allreduce")
TOOLS = {"dcgm_diag": ("dcgmi",), "nccl_intranode": ("all_reduce_perf",), "nccl_internode": ("all_reduce_perf", "mpirun"),
         "nccl_fleet": ("all_reduce_perf", "mpirun"), "rdma_bandwidth": ("ib_write_bw", "fi_pingpong"), "allreduce": ()}
# where the tools live when a non-login SSH command's PATH does not say: nccl-tests' build dir (AWS
# DLAMI, awsome-distributed-training images), the AWS EFA installer's libfabric and Open MPI
DEFAULT_TOOL_DIRS = ("/opt/nccl-tests/build", "/usr/local/bin", "/opt/amazon/efa/bin", "/opt/amazon/openmpi/bin",
                     "/usr/local/cuda/bin", "/usr/bin", "/usr/sbin")
DISCOVERY_BOUND_S = 20.0
DEFAULT_MAX_BYTES = 1 << 30


@dataclass(frozen=True)
class FabricOptions:
    port_range: PortRange = field(default_factory=PortRange)
    tool_dirs: tuple[str, ...] = DEFAULT_TOOL_DIRS
    fi_provider: str = "efa"  # libfabric provider for fi_pingpong on EFA nodes ("tcp": the same path without EFA)
    # node-to-node SSH for mpirun when it is not the login user's default (mpirun_argv's ssh_identity, known_hosts)
    mpirun_ssh: Mapping[str, Any] = field(default_factory=dict)
    ring: RingOptions | None = None  # None: from the profile's network.allreduce params


@dataclass
class FabricFacts:
    """What the phase found, filled as it goes (so an interrupted run keeps what finished). Once
    :meth:`close_unfinished` has run, late results are dropped: a tool killed by the interrupt
    must not report its own death as the test's outcome."""

    planned: list[str] = field(default_factory=list)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    controller: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set_node(self, node: str, test: str, value: dict[str, Any]) -> None:
        with self._lock:
            if self.stopped is None:
                self.nodes.setdefault(node, {})[test] = value

    def set_fleet(self, test: str, value: dict[str, Any]) -> None:
        with self._lock:
            if self.stopped is None:
                self.controller[test] = value

    def close_unfinished(self, reason: str) -> None:
        with self._lock:
            self.stopped = reason
            for test in self.planned:
                if test in FLEET_TESTS:
                    self.controller.setdefault(test, entry("error", reason))
                else:
                    for facts in self.nodes.values():
                        facts.setdefault(test, entry("error", reason))


# what each test's profile line may say under ``params:`` (anything else is a typo, caught up front)
_NCCL_PARAMS = {"min_bytes": int, "max_bytes": int, "iters": int, "warmup": int, "timeout_s": float}
PARAMS: dict[str, dict[str, type]] = {
    "dcgm_diag": {"level": int, "timeout_s": float},
    "nccl_intranode": _NCCL_PARAMS, "nccl_internode": _NCCL_PARAMS, "nccl_fleet": _NCCL_PARAMS,
    "rdma_bandwidth": {"timeout_s": float},
    "allreduce": {"message_mib": float, "iterations": int, "warmup": int, "streams": int, "timeout_s": float,
                  "excellent_ms": float},
}


def planned_tests(profile: Profile) -> list[str]:
    return [test for test, check_id in CHECK_OF.items() if check_id in profile.thresholds]


def check_params(profile: Profile, source: str) -> None:
    """Every fabric line's ``params`` are known and positive numbers of the right kind: a ConfigError
    naming ``source`` (the profile's file or name) and the field, before any node is contacted."""
    for test in planned_tests(profile):
        allowed = PARAMS[test]
        for key, value in _params(profile, test).items():
            where = f"{source}: thresholds.{CHECK_OF[test]}.params.{key}"
            kind = allowed.get(key)
            if kind is None:
                raise ConfigError(f"{where}: unknown parameter (known: {', '.join(sorted(allowed))})")
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or float(value).is_integer())
            if not ok or value <= 0 and not (key == "warmup" and value == 0):
                raise ConfigError(f"{where}: expected a positive {'whole number' if kind is int else 'number'}, got {value!r}")


def _params(profile: Profile, test: str) -> dict[str, Any]:
    th: Threshold | None = profile.thresholds.get(CHECK_OF[test])
    return dict(th.params) if th is not None else {}


def _bound(params: Mapping[str, Any], default: float) -> float:
    return float(params.get("timeout_s") or default)


def ring_options(profile: Profile, opts: FabricOptions) -> RingOptions:
    if opts.ring is not None:
        return opts.ring
    p = _params(profile, "allreduce")
    base = RingOptions(port_range=opts.port_range)
    return replace(base, message_bytes=int(float(p.get("message_mib", base.message_bytes / (1 << 20))) * (1 << 20)),
                   iterations=int(p.get("iterations", base.iterations)), warmup=int(p.get("warmup", base.warmup)),
                   streams=int(p.get("streams", base.streams)), timeout_s=_bound(p, base.timeout_s))


def _each(peers: Sequence[Peer], fn: Any, bound_s: float, name: str) -> dict[str, Any]:
    """``fn(peer)`` for every peer at once, waiting at most ``bound_s``: {name: result}. Never waits
    for stragglers on the way out (an interrupt must not sit out a hung tool's bound: the runner
    then closes the connections, which kills the tools)."""
    pool = ThreadPoolExecutor(max_workers=min(64, len(peers)), thread_name_prefix=name)
    try:
        futures = {pool.submit(fn, p): p.name for p in peers}
        done, _ = wait(futures, timeout=bound_s)
        return {futures[f]: f.result() for f in done if f.exception() is None}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _discover(peers: Sequence[Peer], tools: Sequence[str], dirs: Sequence[str]) -> None:
    def one(peer: Peer) -> dict[str, str | None]:
        argv, stdin = node_command(peer.python, {"mode": "which", "tools": list(tools), "dirs": list(dirs)})
        try:
            res = peer.transport.run(argv, stdin=stdin, timeout=DISCOVERY_BOUND_S)
        except TransportError:
            return {}
        found = (last_json(res.stdout, "tools") or {}).get("tools")
        if not isinstance(found, dict):
            return {}
        return {str(k): (str(v) if isinstance(v, str) else None) for k, v in found.items()}

    found = _each(peers, one, DISCOVERY_BOUND_S + 10, "plinth-fabric-which")
    for peer in peers:
        peer.tools = found.get(peer.name) or {}


def _max_bytes(params: Mapping[str, Any], expected_at: int | None) -> int:
    """Largest message: the profile's, else the size the catalogue's expectation was measured at."""
    if "max_bytes" in params:
        return int(params["max_bytes"])
    return int(expected_at or DEFAULT_MAX_BYTES)


def _local_phase(peers: Sequence[Peer], plan: Sequence[str], profile: Profile, out: FabricFacts) -> None:
    from validators.fabric.expect import intranode

    dcgm_p, nccl_p = _params(profile, "dcgm_diag"), _params(profile, "nccl_intranode")
    level = int(dcgm_p.get("level", 1))
    dcgm_bound = _bound(dcgm_p, node_tests.DCGM_BOUND_S.get(level, node_tests.DCGM_BOUND_S[4]))
    nccl_bound = _bound(nccl_p, node_tests.NCCL_BOUND_S)

    def one(peer: Peer) -> None:
        if "dcgm_diag" in plan:
            out.set_node(peer.name, "dcgm_diag", node_tests.dcgm_diag(peer.transport, peer.tools, level, dcgm_bound))
        if "nccl_intranode" in plan:
            exp = intranode(peer.facts, peer.instance_type)
            out.set_node(peer.name, "nccl_intranode", node_tests.nccl_intranode(
                peer.transport, peer.tools, peer.facts, nccl_p, _max_bytes(nccl_p, exp.at_bytes if exp else None), nccl_bound))

    bound = (dcgm_bound if "dcgm_diag" in plan else 0.0) + (nccl_bound if "nccl_intranode" in plan else 0.0)
    _each(peers, one, bound + 60, "plinth-fabric-local")


def _lacking(peers: Sequence[Peer], need: Sequence[str], any_of: bool = False) -> dict[str, str]:
    out = {}
    for p in peers:
        missing = [t for t in need if not p.tools.get(t)]
        if missing and (not any_of or len(missing) == len(need)):
            out[p.name] = f"{' or '.join(missing) if any_of else ', '.join(missing)} not found on the node"
    return out


def _rdma_phase(peers: Sequence[Peer], profile: Profile, opts: FabricOptions, out: FabricFacts) -> None:
    p = _params(profile, "rdma_bandwidth")
    bound = _bound(p, rounds.RDMA_BOUND_S)
    token, rnd = run_token(), random.SystemRandom()
    groups: dict[str, list[Peer]] = {}
    for peer in peers:
        kind = rounds.fabric_kind(peer.facts)
        if kind == "tcp":
            out.set_node(peer.name, "rdma_bandwidth", skipped("no RDMA device on the node (no EFA, no active InfiniBand/RoCE port)"))
            continue
        groups.setdefault(kind, []).append(peer)
    for kind, members in groups.items():
        tool = "fi_pingpong" if kind == "efa" else "ib_write_bw"
        lacking = _lacking(members, [tool])
        able = [m for m in members if m.name not in lacking]
        measure = rounds.rdma_measure(kind, opts.fi_provider, opts.port_range, bound, token, rnd)
        for name, e in rounds.run_pairs(able, measure, bound, tool, "gbps", lacking).items():
            out.set_node(name, "rdma_bandwidth", e)


def _nccl_peers(peers: Sequence[Peer]) -> tuple[list[Peer], dict[str, str]]:
    lacking = _lacking(peers, ["all_reduce_perf", "mpirun"])
    for p in peers:
        if p.name not in lacking and node_tests.gpu_count(p.facts) < 1:
            lacking[p.name] = "no GPU visible on the node"
    return [p for p in peers if p.name not in lacking], lacking


def _internode_phase(peers: Sequence[Peer], profile: Profile, opts: FabricOptions, out: FabricFacts) -> None:
    from validators.fabric.expect import internode

    p = _params(profile, "nccl_internode")
    able, lacking = _nccl_peers(peers)
    exp = internode([p.instance_type for p in able])
    bound = _bound(p, rounds.NCCL_PAIR_BOUND_S)
    measure = rounds.nccl_measure(p, _max_bytes(p, exp.at_bytes if exp else None), bound, opts.mpirun_ssh)
    for name, e in rounds.run_pairs(able, measure, bound, "nccl", "busbw_gbs", lacking).items():
        out.set_node(name, "nccl_internode", e)


def _fleet_nccl(peers: Sequence[Peer], profile: Profile, opts: FabricOptions) -> dict[str, Any]:
    from validators.fabric.expect import internode

    p = _params(profile, "nccl_fleet")
    able, lacking = _nccl_peers(peers)
    if len(able) < 2:
        why = "; ".join(f"{n}: {r}" for n, r in lacking.items()) or "fewer than 2 nodes"
        return skipped(f"NCCL across the fleet needs 2 or more nodes with all_reduce_perf, mpirun and GPUs ({why})")
    exp = internode([p.instance_type for p in able])
    result = rounds.nccl_run(able[0], able, p, _max_bytes(p, exp.at_bytes if exp else None),
                             _bound(p, rounds.NCCL_PAIR_BOUND_S), opts.mpirun_ssh)
    result["instance_types"] = [p.instance_type for p in able]
    if lacking:
        result["left_out"] = lacking
    return result


def run_fabric(peers: Sequence[Peer], profile: Profile, opts: FabricOptions, out: FabricFacts) -> None:
    """Run the profile's fabric tests over ``peers`` (reached, probed), filling ``out``."""
    out.planned = planned_tests(profile)
    for peer in peers:
        out.nodes.setdefault(peer.name, {})
    if not out.planned or not peers:
        return
    tools = sorted({t for test in out.planned for t in TOOLS[test]})
    if tools:
        _discover(peers, tools, opts.tool_dirs)
    for peer in peers:
        out.set_node(peer.name, "tools", dict(peer.tools))
    if {"dcgm_diag", "nccl_intranode"} & set(out.planned):
        _local_phase(peers, out.planned, profile, out)
    if "rdma_bandwidth" in out.planned:
        _rdma_phase(peers, profile, opts, out)
    if "nccl_internode" in out.planned:
        _internode_phase(peers, profile, opts, out)
    if "nccl_fleet" in out.planned:
        out.set_fleet("nccl_fleet", _fleet_nccl(peers, profile, opts))
    if "allreduce" in out.planned:
        members = [RingMember(p.name, p.address, p.transport, p.python) for p in peers]
        out.set_fleet("allreduce", run_ring(members, ring_options(profile, opts)))


__all__ = ["CHECK_OF", "DEFAULT_TOOL_DIRS", "FLEET_TESTS", "PARAMS", "FabricFacts", "FabricOptions", "Peer", "check_params",
           "planned_tests", "ring_options", "run_fabric"]
