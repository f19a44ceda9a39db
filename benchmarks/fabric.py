"""Fabric: the builtin ring all-reduce against its cost model, and what the active tests cost a run.

- Ring vs model: three namespaced hosts on a bridge (tests/support/netns.py), node-1's link shaped
  with tc tbf (both directions) to each rate; the ring runs through the same code the validator
  uses (validators.fabric.ring.run_ring over Transports that run inside the namespaces). The
  message is sized so the model's time is about one second: T = 2(n-1) x (S/n) / rate.
- Wall time of a full ``plinth validate -p distributed_training`` (probe with the disk test, the
  pairwise rounds, the fabric phase: tool discovery and the 25 MiB ring all-reduce; no GPU tools
  on these hosts, so DCGM/NCCL/RDMA are skipped) on N loopback sshd hosts.
- What the active tests add to the quick probe at the largest N: ``--disk-test-mb 0`` (pairwise
  rounds + fabric tests) minus ``--quick`` (neither), repetition by repetition.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

from benchmarks.hosts import LoopbackFleet
from benchmarks.report import Row, Section, Target, fmt
from benchmarks.stats import Series, run_measured
from benchmarks.tools import PLINTH, REPO, make_workspace
from tests.support.netns import NetnsTransport, NetnsUnavailable, NsFleet, build_fleet, tbf_args
from validators.fabric import ring_model
from validators.fabric.ring import RingMember, RingOptions, run_ring

PY = "/usr/bin/python3"
RING_TOLERANCE = 0.15
RING_NOTE = (
    "Ring: 3 namespaces on a bridge, node-1's veth shaped with tc tbf both ways (a 50 ms queue); the model is "
    "T = 2(n-1) x (S/n) / rate (the slowest hop paces every step); jumbo frames, so TCP/IP headers cost ~0.7%. "
    "With 4 channels per hop, 4 TCP flows share tbf's small queue and lose packets at low rates (retransmission "
    "timeouts of 200 ms and more): the time above the model there is TCP's, not the ring's. Above ~200 Mbit/s "
    "the three ranks' Python on this machine's 2 shared cores, not the link, sets the pace (no node is then "
    "markedly slower than the others, so none is named).")
ACTIVE_BUDGET_S = 30.0
MIB = 1 << 20


def _shape(fleet: NsFleet, index: int, rate: str) -> None:
    h = fleet.host(index)
    for argv in (["tc", "qdisc", "replace", "dev", h.veth_root, *tbf_args(rate, 9000)],
                 fleet.exec_argv(index, ["tc", "qdisc", "replace", "dev", "eth0", *tbf_args(rate, h.mtu)])):
        subprocess.run(argv, check=True, capture_output=True, timeout=15)


def _message_bytes(rate_mbit: int, n: int, model_s: float = 1.0) -> int:
    """A message whose ring takes ``model_s`` at ``rate_mbit`` (whole MiB, at least 1)."""
    size = model_s * rate_mbit * 1e6 / 8 * n / (2 * (n - 1))
    return max(1, round(size / MIB)) * MIB


def _ring(members: list[RingMember], size: int, streams: int, reps: int, section: Section,
          rate: int) -> tuple[Series, int]:
    measured, named = Series(), 0
    for _ in range(reps):
        facts = run_ring(members, RingOptions(message_bytes=size, iterations=5, warmup=1, streams=streams, timeout_s=120))
        if facts["status"] != "ok":
            section.notes.append(f"ring at {rate} Mbit/s, {streams} channel(s): {facts['reason']}")
            continue
        measured.add(facts["sync_ms"])
        named += [x["node"] for x in facts["slow_nodes"]] == ["node-1"]
    return measured, named


def ring_rows(rates_mbit: list[int], reps: int, section: Section) -> None:
    """The model against one TCP connection per hop (the target), and against the profile's default
    of 4 (shown: several flows behind a small shaping queue lose packets the model does not know of)."""
    try:
        owner_fleet = build_fleet(3)
    except NetnsUnavailable as exc:
        section.notes.append(f"ring vs model not measured: {exc}")
        return
    default_streams = RingOptions().streams
    try:
        members = [RingMember(h.name, h.address, NetnsTransport(h.netns, h.name), PY) for h in owner_fleet.hosts]
        for rate in rates_mbit:
            _shape(owner_fleet, 1, f"{rate}mbit")
            size = _message_bytes(rate, len(members))
            model = ring_model.ring_seconds(size, len(members), rate / 1000)
            for streams in (1, default_streams):
                measured, named = _ring(members, size, streams, reps, section, rate)
                ratio = Series([m / 1000 / model for m in measured.samples])
                params = f"3 ranks, node-1 at {rate} Mbit/s, {size // MIB} MiB, {streams} channel(s)"
                section.rows.append(Row("ring all-reduce time (median of 5 iterations)", params, "ms",
                                        measured if measured.n else None,
                                        note=f"model {fmt(model * 1000)} ms; node-1 named in {named} of {measured.n} runs"))
                section.rows.append(Row("  ratio to the ring model", params, "×", ratio if ratio.n else None))
                if streams == 1 and ratio.n:
                    worst = max(ratio.samples, key=lambda r: abs(r - 1))
                    section.targets.append(Target(
                        f"ring all-reduce within ±{RING_TOLERANCE:.0%} of the model at {rate} Mbit/s (1 channel)",
                        f"{fmt(ratio.median)}× median (worst {fmt(worst)}×), slow node named {named}/{ratio.n}",
                        abs(ratio.median - 1) <= RING_TOLERANCE))
    finally:
        owner_fleet.close()


def _validate(fleet: LoopbackFleet, n: int, mode: list[str]) -> tuple[float | None, str, dict]:
    ws = make_workspace(fleet, n)
    report = ws.dir / "fabric.json"
    report.unlink(missing_ok=True)
    argv = [str(PLINTH), "validate", "-i", str(ws.inventory), "-p", "distributed_training", *mode,
            "--json", str(report), "--concurrency", str(n)]
    proc = run_measured(argv, env={**os.environ, "CI": "1"}, cwd=REPO, timeout_s=900)
    try:
        doc = json.loads(report.read_text())
    except (OSError, ValueError) as exc:
        return None, f"exit {proc.returncode}, no report: {exc}: {proc.tail()}", {}
    lost = [nd["name"] for nd in doc.get("nodes", []) if not nd.get("reachable")]
    if proc.returncode not in (0, 1) or len(doc.get("nodes", [])) != n or lost:
        return None, f"exit {proc.returncode}, lost {lost[:3]}", doc
    return proc.wall_s, "", doc


def validation_rows(fleet: LoopbackFleet, sizes: list[int], reps: int, section: Section) -> None:
    for n in sizes:
        full = Series()
        ring_ms: list[float] = []
        for _ in range(reps):
            wall, why, doc = _validate(fleet, n, [])
            if wall is None:
                section.notes.append(f"full validation N={n}: {why}")
                continue
            full.add(wall)
            ring_ms += [c["measured"] for c in doc.get("fleet", []) if c["id"] == "network.allreduce"
                        and isinstance(c.get("measured"), (int, float))][:1]
        section.rows.append(Row("plinth validate -p distributed_training (full)", f"N={n}", "s", full if full.n else None,
                                note=(f"25 MiB ring over {n} loopback hosts: {fmt(min(ring_ms))}–{fmt(max(ring_ms))} ms"
                                      if ring_ms else "")))
    n = max(sizes)
    quick, active, added = Series(), Series(), Series()
    for _ in range(reps):
        q, why_q, _ = _validate(fleet, n, ["--quick"])
        a, why_a, _ = _validate(fleet, n, ["--disk-test-mb", "0"])
        if q is None or a is None:
            section.notes.append(f"active tests N={n}: {why_q or why_a}")
            continue
        quick.add(q)
        active.add(a)
        added.add(a - q)
    section.rows.append(Row("plinth validate --quick", f"N={n}", "s", quick if quick.n else None))
    section.rows.append(Row("plinth validate --disk-test-mb 0 (pairwise rounds + fabric tests)", f"N={n}", "s",
                            active if active.n else None))
    section.rows.append(Row("  added by the active tests", f"N={n}", "s", added if added.n else None))
    if added.n:
        section.targets.append(Target(f"active tests add ≤ {ACTIVE_BUDGET_S:.0f} s to the quick probe at N={n}",
                                      f"{fmt(added.median)} s median (max {fmt(added.high)} s)",
                                      added.median <= ACTIVE_BUDGET_S))


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "?"


def run_fabric(fleet: LoopbackFleet, sizes: list[int], rates_mbit: list[int], reps: int) -> Section:
    t0 = time.monotonic()
    load_start = _loadavg()
    section = Section("fabric", "Fabric: builtin ring all-reduce vs its model; what the active tests cost")
    ring_rows(rates_mbit, reps, section)
    validation_rows(fleet, sizes, reps, section)
    section.notes.append(f"Load average (1, 5, 15 min) at the section's start {load_start}, at its end {_loadavg()}, "
                         f"on {os.cpu_count()} logical CPUs shared with other users: the ring's Python and TCP run on "
                         "the same cores, so its time above the model grows with the load.")
    section.notes += [
        RING_NOTE,
        ("Validation: every host is an sshd on 127.0.0.1; the 25 MiB ring of N ranks then runs on this machine's "
        "CPUs, which a real fleet spreads over N machines. No GPU tools here: DCGM/NCCL/RDMA tests are skipped."),
    ]
    section.wall_s = time.monotonic() - t0
    return section


__all__ = ["run_fabric"]
