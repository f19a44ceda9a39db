"""Fan-out: N hosts, every tool once per repetition, in an order that rotates each repetition
(nobody always runs first on a cold cache or last on a hot machine). Ratios are taken within a
repetition: tool_time(rep i) / plinth_time(rep i).

Tools (a missing one becomes a row that says why, not a silent gap):
  plinth       plinth validate --no-network with the quick probe (the CLI's quick flag if it has
               one, else benchmarks/plinth_quick.py: the same runner with a 1 MiB builtin disk test)
  plinth-cli   plinth validate --no-network as shipped (64 MiB fio write+read per node), at the
               sizes in ``cli_sizes`` only, and only when the CLI has no quick flag
  ansible      ansible all -m setup, forks = N
  pdsh         pdsh -R ssh -f N -w … true: one handshake and one exec per host, the floor
  testinfra    8 equivalent checks, paramiko backend, xdist workers = CPUs
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import tools
from benchmarks.hosts import LoopbackFleet
from benchmarks.report import Row, Section, Target, fmt
from benchmarks.stats import Series, ratios

ALL_TOOLS = ("plinth", "plinth-cli", "ansible", "pdsh", "testinfra")
TARGET_N = 32
ANSIBLE_FACTOR = 5.0
PDSH_FACTOR = 2.0
PROBE_BUDGET_S = 1.0


@dataclass
class Tool:
    key: str
    label: str
    run: Callable[[tools.Workspace, int], tools.ToolRun]


def available_tools(wanted: list[str], quick_flag: str | None, notes: list[str]) -> list[Tool]:
    out: list[Tool] = []
    for key in wanted:
        if key == "plinth":
            if quick_flag:
                out.append(Tool(key, f"plinth validate --no-network {quick_flag}",
                                lambda ws, rep: tools.plinth_cli(ws, quick_flag)))
            else:
                out.append(Tool(key, "plinth validate --no-network, quick probe",
                                lambda ws, rep: tools.plinth_quick(ws)))
        elif key == "plinth-cli":
            if quick_flag is None:
                out.append(Tool(key, "plinth validate --no-network, as shipped (64 MiB fio disk test)",
                                lambda ws, rep: tools.plinth_cli(ws)))
        elif key == "ansible":
            if tools.ansible_available():
                out.append(Tool(key, "ansible all -m setup", tools.ansible_setup))
            else:
                notes.append("ansible-core not installed (benchmarks/.venv-ansible): no Ansible rows")
        elif key == "pdsh":
            if tools.pdsh_available():
                out.append(Tool(key, "pdsh -R ssh … true", lambda ws, rep: tools.pdsh_true(ws)))
            else:
                notes.append("pdsh not installed (apt-get install pdsh): no floor rows")
        elif key == "testinfra":
            out.append(Tool(key, "testinfra, 8 checks", lambda ws, rep: tools.testinfra_checks(ws, tools.testinfra_workers(ws.n))))
    return out


def _warm_up(fleet: LoopbackFleet, chosen: list[Tool]) -> None:
    """One untimed run of each tool on 2 hosts: page cache, .pyc files, ansible's first-run setup."""
    ws = tools.make_workspace(fleet, min(2, len(fleet.servers)))
    for t in chosen:
        t.run(ws, -1)


def run_fanout(fleet: LoopbackFleet, sizes: list[int], reps: int, wanted: list[str], quick_flag: str | None,
               cli_sizes: tuple[int, ...] = (8, 32)) -> Section:
    section = Section("fanout", "Fan-out: N hosts, no active network test")
    t0 = time.monotonic()
    chosen = available_tools(wanted, quick_flag, section.notes)
    _warm_up(fleet, chosen)
    failures: list[str] = []
    per_n: dict[int, dict[str, Series]] = {}
    node_medians: dict[int, Series] = {}
    for n in sizes:
        ws = tools.make_workspace(fleet, n)
        here = [t for t in chosen if t.key != "plinth-cli" or n in cli_sizes]
        series = {t.key: Series() for t in here}
        node_medians[n] = Series()
        for rep in range(reps):
            order = here[rep % len(here):] + here[:rep % len(here)]
            for t in order:
                run = t.run(ws, rep)
                if not run.ok:
                    failures.append(f"N={n} {t.key} run {rep + 1}: {run.detail}")
                    series[t.key].add(float("nan"))
                    continue
                series[t.key].add(run.wall_s)
                if t.key == "plinth" and run.node_durations:
                    node_medians[n].add(statistics.median(run.node_durations))
        per_n[n] = series
        _rows(section, n, here, series, node_medians[n])
    _targets(section, per_n, node_medians)
    ti_workers = tools.testinfra_workers(max(sizes))
    section.notes += [
        (f"Each figure is the wall time of the whole command (start-up included), {reps} runs; N entries on "
         f"{len(fleet.servers)} sshd servers on 127.0.0.1, login user with /bin/sh (no ~/.bashrc cost)."),
        ("Controller and every 'node' share this machine's CPUs: per-host work on the node side (the probe, "
         "Ansible's setup module) competes with the controller, which real fleets do not."),
        ("Ansible: ansible-core from PyPI in its own venv, forks = N, default ControlPersist, a fresh control "
         "directory per run (no reuse across runs); host keys checked (StrictHostKeyChecking yes)."),
        "pdsh: -R ssh with fanout N over OpenSSH; host keys checked.",
        ("testinfra: paramiko backend, pytest-xdist with "
         f"{ti_workers} workers (its documented parallelism; more workers than CPUs only add start-up). "
         if ti_workers else "testinfra: paramiko backend, sequential (pytest-xdist not installed). ")
        + "testinfra's paramiko backend does not read known_hosts (WarningPolicy): host keys unchecked.",
    ]
    if quick_flag is None:
        section.notes.append("plinth's CLI has no quick-probe option yet: the 'quick probe' rows run "
                             "benchmarks/plinth_quick.py (same inventory loading, runner and reports as "
                             "`plinth validate`, disk test cut to 1 MiB builtin).")
    section.notes += failures
    section.wall_s = time.monotonic() - t0
    return section


def _clean(s: Series) -> Series:
    return Series([x for x in s.samples if not math.isnan(x)])  # drop failed runs (NaN)


def _paired(a: Series, b: Series) -> Series:
    pairs = [(x, y) for x, y in zip(a.samples, b.samples) if not (math.isnan(x) or math.isnan(y))]
    return ratios(Series([x for x, _ in pairs]), Series([y for _, y in pairs]))


def _rows(section: Section, n: int, here: list[Tool], series: dict[str, Series], node_median: Series) -> None:
    base = series.get("plinth")
    for t in here:
        s = series[t.key]
        clean = _clean(s)
        note = "" if clean.n == s.n else f"{s.n - clean.n} run(s) failed (see notes)"
        if t.key == "plinth" and "pdsh" in series:
            row = Row(t.label, f"N={n}", "s", clean, _paired(s, series["pdsh"]), "pdsh", note)
        elif t.key != "plinth" and base is not None:
            row = Row(t.label, f"N={n}", "s", clean, _paired(s, base), "plinth", note)
        else:
            row = Row(t.label, f"N={n}", "s", clean, note=note)
        section.rows.append(row)
    if node_median.n:
        section.rows.append(Row("plinth per-node connect + probe (median over nodes)", f"N={n}", "s", node_median,
                                note="from the JSON report's duration_s"))


def _targets(section: Section, per_n: dict[int, dict[str, Series]], node_medians: dict[int, Series]) -> None:
    n = TARGET_N if TARGET_N in per_n else max(per_n)
    s = per_n[n]
    if "plinth" in s and "ansible" in s:
        r = _paired(s["ansible"], s["plinth"])
        section.targets.append(Target(f"≥{ANSIBLE_FACTOR:g}× faster than `ansible -m setup` at N={n}",
                                      f"{fmt(r.median)}× (min–max {fmt(r.low)}–{fmt(r.high)})" if r.n else "no paired runs",
                                      r.median >= ANSIBLE_FACTOR if r.n else None))
    if "plinth" in s and "pdsh" in s:
        r = _paired(s["plinth"], s["pdsh"])
        section.targets.append(Target(f"≤{PDSH_FACTOR:g}× the pdsh floor at N={n}",
                                      f"{fmt(r.median)}× (min–max {fmt(r.low)}–{fmt(r.high)})" if r.n else "no paired runs",
                                      r.median <= PDSH_FACTOR if r.n else None))
    smallest = min(node_medians)
    nm = node_medians[smallest]
    if nm.n:
        section.targets.append(Target(f"per-node quick probe < {PROBE_BUDGET_S:g} s (N={smallest})",
                                      f"{fmt(nm.median)} s median per node", nm.median < PROBE_BUDGET_S))


__all__ = ["ALL_TOOLS", "run_fanout"]
