"""Scale: 256 and 1,024 inventory entries at concurrency 64 — wall time, the plinth process's peak RSS
(its own ``ru_maxrss`` from wait4), its peak number of open file descriptors (/proc/<pid>/fd
sampled every 20 ms), and whether every host came back. pdsh at the same fan-out is the floor.

256 sshd processes would be heavy on a 2-core machine and measure nothing more: the entries point
at 16 servers (16 per server, distinct names); every entry is still its own TCP connection, SSH
handshake and session, because sshd forks per connection.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks import tools
from benchmarks.hosts import LoopbackFleet
from benchmarks.report import Row, Section, Target, fmt
from benchmarks.stats import Series, ratios

RSS_LIMIT_MB = 500.0
# a paramiko connection holds a socket (and a jump host one more); the rest is the interpreter's own
FD_PER_CONNECTION = 2
FD_BASE = 64


def run_scale(fleet: LoopbackFleet, sizes: list[int], concurrency: int, reps: int, use_pdsh: bool = True,
              large_reps: int = 2) -> Section:
    """One section, one block of rows per fleet size. Sizes above 256 run ``large_reps`` times (each
    is minutes on 2 cores). Memory and open descriptors must follow --concurrency, not the fleet."""
    section = Section("scale", f"Scale: {' and '.join(f'{n:,}' for n in sizes)} hosts at concurrency {concurrency}")
    t0 = time.monotonic()
    peak_fds: dict[int, float] = {}
    for hosts in sizes:
        n_reps = reps if hosts <= 256 else min(reps, large_reps)
        ws = tools.make_workspace(fleet, hosts)
        wall, rss, fds, lost, floor = Series(), Series(), Series(), Series(), Series()
        failures: list[str] = []
        pdsh_ok = use_pdsh and tools.pdsh_available() and hosts <= 256
        for rep in range(n_reps):
            run = tools.plinth_cli(ws, quick=True, sample_fds=True, concurrency=concurrency)
            wall.add(run.wall_s)
            rss.add(run.maxrss_kb / 1024)
            fds.add(float(run.peak_fds or 0))
            lost.add(0.0 if run.ok else float(hosts - len(run.node_durations)) if run.node_durations else float(hosts))
            if not run.ok:
                failures.append(f"{hosts} hosts, run {rep + 1}: {run.detail}")
            if pdsh_ok:
                p = tools.pdsh_true(ws, fanout=concurrency)
                floor.add(p.wall_s)
                if not p.ok:
                    failures.append(f"{hosts} hosts, pdsh run {rep + 1}: {p.detail}")
        params = f"{hosts:,} entries → {len(fleet.servers)} sshd, -c {concurrency}"
        label = "plinth validate --quick"
        section.rows.append(Row(f"{label}: wall time", params, "s", wall, ratios(wall, floor) if floor.n else None,
                                "pdsh" if floor.n else None))
        if floor.n:
            section.rows.append(Row("pdsh -R ssh … true: wall time", params, "s", floor))
        section.rows.append(Row("plinth peak RSS", params, "MB", rss, note="ru_maxrss of the plinth process (wait4)"))
        section.rows.append(Row("plinth peak open fds", params, "fds", fds, note="/proc/<pid>/fd sampled every 20 ms"))
        section.rows.append(Row("hosts lost", params, "hosts", lost, note="unreachable or probe failed"))
        section.targets.append(Target(f"peak RSS < {RSS_LIMIT_MB:.0f} MB at {hosts:,} hosts",
                                      f"{fmt(rss.high)} MB (worst of {rss.n})", rss.high < RSS_LIMIT_MB))
        section.targets.append(Target(f"no host lost at {hosts:,} hosts", f"{fmt(lost.high)} lost (worst of {lost.n})",
                                      lost.high == 0))
        peak_fds[hosts] = fds.high
        section.notes += failures
    if len(peak_fds) > 1:
        small, large = min(peak_fds), max(peak_fds)
        bound = FD_PER_CONNECTION * concurrency + FD_BASE
        section.targets.append(Target(
            f"open fds bounded by --concurrency, not the fleet (≤ {bound} at {large:,} hosts)",
            f"{fmt(peak_fds[large])} at {large:,} vs {fmt(peak_fds[small])} at {small:,} hosts", peak_fds[large] <= bound))
    section.notes.append(f"The inventory entries point at {len(fleet.servers)} sshd servers on 127.0.0.1 "
                         "(sshd forks per connection: each entry is its own connection, handshake and session).")
    section.notes.append(f"Load average at the end of this section: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}.")
    section.wall_s = time.monotonic() - t0
    return section


__all__ = ["run_scale"]
