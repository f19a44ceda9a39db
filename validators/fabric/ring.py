"""Run the builtin ring all-reduce over the nodes' Transports (the I/O half; the model and the
attribution are in ring_model.py, the node side in node_fabric.py).

Every rank is started at once with the whole plan in its arguments: its own candidate ports, its
successor's address and candidates, this run's token (validators/fabric/ports.py). Nothing has to
be read from a running command: each rank binds, dials its successor (retrying the candidates
until it answers the hello with the right predecessor rank) and accepts its predecessor. Each
rank bounds itself (a watchdog at ``timeout_s``); the controller waits a little longer, then
stops what is left. Any failure comes back in the facts (``status: error`` with the ranks'
reasons), never as an exception.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from validators.fabric import ring_model
from validators.fabric.payload import node_command
from validators.fabric.ports import PortRange, candidates, run_token
from validators.fabric.runs import last_json
from validators.transport.base import RunningCommand, Transport, TransportError

MARGIN_S = 5.0  # past a rank's own bound before the controller stops it


@dataclass(frozen=True)
class RingOptions:
    message_bytes: int = 25 << 20  # PyTorch DDP's default gradient bucket (bucket_cap_mb=25)
    iterations: int = 3  # timed; the median is reported
    warmup: int = 1
    streams: int = 4  # parallel TCP connections per hop (one flow neither fills a fast link nor passes a cloud's per-flow cap)
    connect_timeout_s: float = 20.0
    io_timeout_s: float = 30.0
    timeout_s: float = 120.0  # the whole ring, per rank
    port_range: PortRange = field(default_factory=PortRange)
    slow_fraction: float = ring_model.DEFAULT_SLOW_FRACTION


@dataclass(frozen=True)
class RingMember:
    name: str
    address: str  # where the other ranks reach it
    transport: Transport
    python: str = "python3"


def run_ring(members: Sequence[RingMember], opts: RingOptions | None = None,
             rnd: random.Random | None = None) -> dict[str, Any]:
    """controller facts["fabric"]["allreduce"] for a ring over ``members`` in the given order."""
    opts = opts or RingOptions()
    names = [m.name for m in members]
    if len(members) < 2:
        return {"status": "skipped", "reason": "the ring all-reduce needs at least 2 reachable nodes", "nodes": names}
    rnd = rnd or random.SystemRandom()
    token = run_token()
    ports = [candidates(opts.port_range, rnd) for _ in members]
    n = len(members)
    started: list[RunningCommand | None] = []
    outputs: list[dict[str, Any] | None] = [None] * n
    t0 = time.monotonic()
    try:
        for r, m in enumerate(members):
            nxt = members[(r + 1) % n]
            args = {"mode": "ring", "rank": r, "n": n, "token": token, "ports": ports[r],
                    "next": {"host": nxt.address, "ports": ports[(r + 1) % n]},
                    "family": "inet6" if ":" in m.address else "inet",
                    "message_bytes": opts.message_bytes, "iterations": opts.iterations, "warmup": opts.warmup,
                    "streams": opts.streams,
                    "connect_timeout_s": opts.connect_timeout_s, "io_timeout_s": opts.io_timeout_s,
                    "deadline_s": opts.timeout_s}
            argv, stdin = node_command(m.python, args)
            try:
                started.append(m.transport.start(argv, stdin=stdin))
            except TransportError as exc:
                outputs[r] = {"rank": r, "error": f"could not start the ring tool: {exc}"}
                break  # without this rank the others cannot connect: stop them below
        if len(started) == n:
            for r, cmd in enumerate(started):
                assert cmd is not None
                res = cmd.wait(max(1.0, opts.timeout_s + MARGIN_S - (time.monotonic() - t0)))
                outputs[r] = last_json(res.stdout, "rank") or {
                    "rank": r, "error": ("killed past its bound" if res.timed_out else
                                         f"no result (exit {res.exit_code}): "
                                         f"{res.stderr.decode('utf-8', 'replace').strip()[-200:] or 'no output'}")}
    finally:
        for cmd in started:
            if cmd is not None:
                cmd.stop()
    facts = ring_model.summarize(names, outputs, opts.message_bytes, opts.slow_fraction)
    facts["seconds"] = round(time.monotonic() - t0, 3)
    facts["port_range"] = str(opts.port_range)
    facts["streams"] = opts.streams
    return facts


__all__ = ["RingMember", "RingOptions", "run_ring"]
