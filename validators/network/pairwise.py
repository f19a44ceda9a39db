"""Run the pairwise rounds over the nodes' Transports (the I/O half; schedule and inference are pure).

Per pair: the server node starts the builtin listener (which starts ``iperf3 -s -1`` itself when
both ends have iperf3) with ``Transport.start``; the client node runs the builtin client (latency
pings, and the builtin bandwidth stream when iperf3 is not used) and then ``iperf3 -c ... -J``.

Ports are chosen per run (validators/fabric/ports.py): the listener binds the first free port of
a list of candidates drawn from ``NetOptions.port_range``, the client tries the same list with this
run's token in its hello, and the listener's answer names the port its iperf3 server got. A
RunningCommand cannot be read before it ends, so nothing waits for a "listening" line: the client
retries the candidates until ``connect_timeout_s`` and re-runs iperf3 while it is refused.

Every step is bounded: the listener exits after its clients or at its own deadline (``timeout``
wraps iperf3), client runs have transport timeouts, each round waits at most ``timeout_s`` plus a
margin. Any failure becomes that pair's ``error`` (and, when all of a node's pairs failed, the
node's ``facts["pairwise"]["error"]``), never an exception out of :func:`measure_pairs`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from validators.fabric.ports import PortRange, candidates, run_token
from validators.network import iperf3
from validators.network.infer import PairResult, error_facts, node_facts
from validators.network.schedule import Pair, ring_rounds
from validators.transport.base import RunningCommand, Transport, TransportError

NODE_TOOL = Path(__file__).with_name("node_net.py")


@dataclass(frozen=True)
class NetOptions:
    duration_s: float = 3.0  # bandwidth stream length per pair
    # None: candidate ports drawn per run from port_range (see validators/fabric/ports.py). A fixed
    # port (tests, a proxy in front of the listener): the builtin listener there, iperf3 on port + 1
    port: int | None = None
    port_range: PortRange = field(default_factory=PortRange)
    use_iperf3: bool = True  # when both ends have iperf3; else the builtin stream
    timeout_s: float = 30.0  # bound on one pair (listener lifetime, client run)
    pings: int = 20  # latency samples per pair (median reported)
    # parallel TCP streams for bandwidth (iperf3 -P, or the builtin's threads): one stream is
    # bounded by one core and one congestion window and cannot fill a 100 Gbps link
    streams: int = 4
    python: str = "python3"  # interpreter on the nodes (the probe needs the same)
    # with a fixed port, several "nodes" on one host need distinct ports: node i then listens on
    # port + 2*i (drawn candidates need no such help)
    spread_ports: bool = False


def _tool_bytes() -> bytes:
    return NODE_TOOL.read_bytes()


def _ports(opts: NetOptions, index: int, rnd: random.Random) -> tuple[list[int], list[int]]:
    """(candidates for the builtin listener, candidates for its iperf3 server)."""
    if opts.port is None:
        return candidates(opts.port_range, rnd), candidates(opts.port_range, rnd)
    base = opts.port + (2 * index if opts.spread_ports else 0)
    return [base], [base + 1]


def _connect_timeout(opts: NetOptions) -> float:
    return min(10.0, opts.timeout_s / 3)


def _io_timeout(opts: NetOptions) -> float:
    return min(10.0, opts.timeout_s / 3)


def _has_iperf3(transport: Transport) -> bool:
    try:
        res = transport.run(["iperf3", "--version"], timeout=10.0)
    except TransportError:
        return False
    return res.exit_code == 0


def _stop(cmd: RunningCommand | None, grace_s: float) -> str:
    """Let a listener finish (it exits after its clients); stop it if it does not. Returns its output."""
    if cmd is None:
        return ""
    text = ""
    try:
        res = cmd.wait(grace_s)
        text = (res.stdout + res.stderr).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001, S110 - a listener that will not end is stopped below; its output is lost
        pass
    try:
        cmd.stop()
    except Exception:  # noqa: BLE001, S110 - stopping is best effort: the listener bounds itself anyway
        pass
    return text


def _listener_reason(output: str) -> str:
    """The listener's own error line, if it printed one (e.g. the port is taken)."""
    for line in output.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "error":
            return f"; listener: {event.get('error')}"
    tail = output.strip().splitlines()[-1:] if output.strip() else []
    return f"; listener said: {tail[0][:200]}" if tail and not tail[0].startswith("{") else ""


def _run_builtin_client(client: Transport, address: str, ports: list[int], token: str, duration_s: float,
                        opts: NetOptions) -> dict[str, Any]:
    args = {"mode": "client", "host": address, "ports": ports, "token": token, "pings": opts.pings,
            "duration_s": duration_s, "streams": opts.streams,
            "connect_timeout_s": _connect_timeout(opts), "io_timeout_s": _io_timeout(opts)}
    res = client.run([opts.python, "-", json.dumps(args)], stdin=_tool_bytes(), timeout=opts.timeout_s)
    if res.timed_out:
        raise TransportError(f"builtin client timed out after {opts.timeout_s:g}s")
    text = res.stdout.decode("utf-8", "replace").strip()
    try:
        out = json.loads(text.splitlines()[-1]) if text else None
    except ValueError:
        out = None
    if not isinstance(out, dict):
        err = res.stderr.decode("utf-8", "replace").strip()[-200:]
        raise TransportError(f"builtin client gave no JSON (exit {res.exit_code}){': ' + err if err else ''}")
    return out


def _run_iperf3_client(client: Transport, address: str, port: int, opts: NetOptions) -> float:
    t0 = time.monotonic()
    deadline = t0 + opts.timeout_s
    while True:
        left = deadline - time.monotonic()
        argv = iperf3.client_argv(address, port, opts.duration_s, max(1.0, left), streams=opts.streams)
        res = client.run(argv, timeout=max(1.0, left) + 5.0)
        output = res.stdout + res.stderr
        if iperf3.is_connect_refused(output):
            if time.monotonic() - t0 < _connect_timeout(opts):
                time.sleep(0.2)  # the listener is still starting
                continue
            raise iperf3.Iperf3Error(f"iperf3 listener at {address}:{port} refused connections for "
                                     f"{_connect_timeout(opts):g}s (did `iperf3 -s` start? port taken?)")
        if res.timed_out or res.exit_code == 124:
            raise iperf3.Iperf3Error(f"iperf3 client timed out after {opts.timeout_s:g}s")
        return iperf3.parse_client_json(res.stdout)


def measure_pair(pair: Pair, transports: Mapping[str, Transport], addresses: Mapping[str, str],
                 server_index: int, use_iperf3: bool, opts: NetOptions, token: str | None = None,
                 rnd: random.Random | None = None) -> PairResult:
    """One client -> server measurement; failures come back in ``PairResult.error``."""
    tool = "iperf3" if use_iperf3 else "builtin"
    address = addresses[pair.server]
    token = token or run_token()
    ports, iperf_ports = _ports(opts, server_index, rnd or random.SystemRandom())
    server_t, client_t = transports[pair.server], transports[pair.client]
    listener: RunningCommand | None = None
    latency: float | None = None
    bandwidth: float | None = None
    try:
        serve_args: dict[str, Any] = {
            "mode": "serve", "ports": ports, "token": token, "connections": 1 if use_iperf3 else 1 + opts.streams,
            "deadline_s": opts.timeout_s, "io_timeout_s": _io_timeout(opts), "family": "inet6" if ":" in address else "inet"}
        if use_iperf3:
            serve_args["iperf3"] = [[p, iperf3.server_argv(p, opts.timeout_s)] for p in iperf_ports]
        try:
            listener = server_t.start([opts.python, "-", json.dumps(serve_args)], stdin=_tool_bytes())
        except TransportError as exc:
            return PairResult(pair.client, pair.server, tool, error=f"listener did not start on {pair.server}: {exc}")
        out = _run_builtin_client(client_t, address, ports, token, 0.0 if use_iperf3 else opts.duration_s, opts)
        latency = out.get("latency_ms")
        bandwidth = out.get("bandwidth_gbps")
        where = f"{address}:{out.get('port') or (ports[0] if len(ports) == 1 else f'{ports[0]}..{ports[-1]}')}"
        if out.get("error"):
            reason = _listener_reason(_stop(listener, 0.5))
            listener = None
            return PairResult(pair.client, pair.server, tool, latency_ms=latency,
                              error=f"{pair.client} -> {where}: {out['error']}{reason}")
        if use_iperf3:
            if not isinstance(out.get("iperf3_port"), int):
                return PairResult(pair.client, pair.server, tool, latency_ms=latency,
                                  error=f"iperf3 server did not start on {pair.server}: {out.get('iperf3_error') or 'no port'}")
            bandwidth = _run_iperf3_client(client_t, address, out["iperf3_port"], opts)
        return PairResult(pair.client, pair.server, tool, bandwidth_gbps=bandwidth, latency_ms=latency)
    except (TransportError, iperf3.Iperf3Error) as exc:
        return PairResult(pair.client, pair.server, tool, bandwidth_gbps=bandwidth, latency_ms=latency, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug or an odd transport must cost one pair, not the run
        return PairResult(pair.client, pair.server, tool, error=f"{exc.__class__.__name__}: {exc}")
    finally:
        _stop(listener, 2.0)


def measure_pairs(transports: Mapping[str, Transport], addresses: Mapping[str, str],
                  opts: NetOptions | None = None) -> dict[str, dict[str, Any]]:
    """facts["pairwise"] for every node in ``transports`` (connected), keyed by node name.

    Nodes are paired in a ring (inventory order) and measured in at most 3 rounds; see
    validators/network/schedule.py and infer.py for the pairing and for how the degraded node is
    named. Fewer than two nodes: ``{}`` (nothing to pair; the judges skip).
    """
    opts = opts or NetOptions()
    names = [n for n in transports if n in addresses]
    missing = [n for n in transports if n not in addresses]
    if len(names) < 2:
        return {}
    index = {n: i for i, n in enumerate(names)}
    token = run_token()  # one per run: a listener answers only this run's clients
    rnd = random.SystemRandom()
    with ThreadPoolExecutor(max_workers=min(64, len(names))) as pool:
        has_iperf = dict(zip(names, pool.map(_has_iperf3, [transports[n] for n in names]))) if opts.use_iperf3 else {}
    results: list[PairResult] = []
    for round_pairs in ring_rounds(names):
        pool = ThreadPoolExecutor(max_workers=min(64, len(round_pairs)))
        futures = {
            pool.submit(measure_pair, p, transports, addresses, index[p.server],
                        bool(has_iperf.get(p.client) and has_iperf.get(p.server)), opts, token, rnd): p
            for p in round_pairs
        }
        # a pair bounds itself; this outer bound only guards against a transport that ignores its timeouts
        done, not_done = wait(futures, timeout=3 * opts.timeout_s + 10)
        for fut in done:
            results.append(fut.result())
        for fut in not_done:
            p = futures[fut]
            results.append(PairResult(p.client, p.server, "builtin", error=f"pair did not finish within {3 * opts.timeout_s + 10:g}s"))
        pool.shutdown(wait=False, cancel_futures=True)
    facts = node_facts(names, results)
    for f in facts.values():
        f["streams"] = opts.streams  # TCP flows per pair: what the front-end can deliver depends on it
    facts.update(error_facts(missing, "no address known for this node"))
    return facts
