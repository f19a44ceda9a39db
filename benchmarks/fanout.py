"""Fan-out: N hosts, every tool once per repetition, in an order that rotates each repetition
(nobody always runs first on a cold cache or last on a hot machine). Ratios are taken within a
repetition: tool_time(rep i) / plinth_time(rep i).

Tools (a missing one becomes a row that says why, not a silent gap):
  plinth       plinth validate --no-network --quick: the real CLI, fact gathering only (no pairwise
               rounds, no disk test)
  plinth-cli   plinth validate --no-network --no-fabric (64 MiB fio write+read per node), only when
               the CLI has no quick flag (an older plinth)
  ansible      ansible all -m setup, forks = N
  pdsh         pdsh -R ssh -f N -w … true: one handshake and one exec per host, the floor
  testinfra    8 equivalent checks, paramiko backend, xdist workers = CPUs

``limited`` keeps a slow tool to some sizes (the full run must fit in ~15 minutes on 2 cores);
the document says which sizes each tool ran at.
"""

from __future__ import annotations

import io
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import tools
from benchmarks.hosts import LoopbackFleet
from benchmarks.report import Row, Section, Target, fmt
from benchmarks.stats import Series, ratios, run_measured

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


def available_tools(wanted: list[str], notes: list[str]) -> list[Tool]:
    out: list[Tool] = []
    for key in wanted:
        if key == "plinth":
            out.append(Tool(key, "plinth validate --quick", lambda ws, rep: tools.plinth_cli(ws, quick=True)))
        elif key == "plinth-cli":
            out.append(Tool(key, "plinth validate --no-network --no-fabric, default disk test (64 MiB fio)",
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


def startup_series(reps: int) -> Series:
    """Python start-up + the imports `plinth validate` needs, with no host: the fixed cost in every
    plinth row."""
    out = Series()
    for _ in range(reps):
        out.add(run_measured([sys.executable, "-c", "import validators.cli, validators.commands"], cwd=tools.REPO).wall_s)
    return out


def render_series(report_json: Path, reps: int) -> Series:
    """In-process time to render the console report of a real run's JSON report (what
    `plinth validate` prints): it runs after the last node answered, so it is all on the
    critical path."""
    from rich.console import Console

    from validators.reports import console
    from validators.results import Report

    report = Report.model_validate_json(report_json.read_text())
    out = Series()
    for _ in range(reps):
        sink = Console(file=io.StringIO(), width=160)
        t0 = time.perf_counter()
        console.render(report, sink)
        out.add(time.perf_counter() - t0)
    return out


def _warm_up(fleet: LoopbackFleet, chosen: list[Tool]) -> None:
    """One untimed run of each tool on 2 hosts: page cache, .pyc files, ansible's first-run setup."""
    ws = tools.make_workspace(fleet, min(2, len(fleet.servers)))
    for t in chosen:
        t.run(ws, -1)


def run_fanout(fleet: LoopbackFleet, sizes: list[int], reps: int, wanted: list[str],
               limited: dict[str, tuple[int, ...]] | None = None) -> Section:
    limited = limited or {}
    section = Section("fanout", "Fan-out: N hosts, no active network test")
    t0 = time.monotonic()
    chosen = available_tools(wanted, section.notes)
    _warm_up(fleet, chosen)
    if any(t.key == "plinth" for t in chosen):
        section.rows.append(Row("plinth start-up: python + imports, no host", "-", "s", startup_series(reps),
                                note="`python -c 'import validators.cli, validators.commands'`"))
    failures: list[str] = []
    per_n: dict[int, dict[str, Series]] = {}
    node_medians: dict[int, Series] = {}
    for n in sizes:
        ws = tools.make_workspace(fleet, n)
        here = [t for t in chosen if t.key not in limited or n in limited[t.key]]
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
        last_report = ws.dir / "plinth.json"
        if any(t.key == "plinth" for t in here) and last_report.exists():
            section.rows.append(Row("  of which: console report rendering", f"N={n}", "s", render_series(last_report, reps),
                                    note="in-process, from this N's JSON report (table per node up to 8 nodes, by-check table above)"))
    _targets(section, per_n, node_medians)
    section.notes += _breakdown(section, per_n)
    ti_workers = tools.testinfra_workers(max(sizes))
    keys = {t.key for t in chosen}
    section.notes += [
        (f"Each figure is the wall time of the whole command (start-up included), {reps} runs; N entries on "
         f"{len(fleet.servers)} sshd servers on 127.0.0.1, login user with /bin/sh (no ~/.bashrc cost)."),
        ("Controller and every 'node' share this machine's CPUs: per-host work on the node side (the probe, "
         "Ansible's setup module) competes with the controller, which real fleets do not."),
    ]
    if "ansible" in keys:
        section.notes.append("Ansible: ansible-core from PyPI in its own venv, forks = N, default ControlPersist, a fresh "
                             "control directory per run (no reuse across runs); host keys checked (StrictHostKeyChecking yes).")
    if "pdsh" in keys:
        section.notes.append("pdsh: -R ssh with fanout N over OpenSSH; host keys checked.")
    if "testinfra" in keys:
        section.notes.append(
            (f"testinfra: paramiko backend, pytest-xdist with {ti_workers} workers (its documented parallelism; "
             "more workers than CPUs only add start-up). " if ti_workers
             else "testinfra: paramiko backend, sequential (pytest-xdist not installed). ")
            + "testinfra's paramiko backend does not read known_hosts (WarningPolicy): host keys unchecked.")
    for key, only in limited.items():
        if any(t.key == key for t in chosen) and set(sizes) - set(only):
            section.notes.append(f"{key} ran at N={', '.join(map(str, sorted(set(sizes) & set(only))))} only "
                                 "(time budget of the whole run).")
    section.notes.append("plinth rows: `plinth validate --quick` (no pairwise rounds, no disk test); for N > 8 the "
                         "console prints the compact by-check table.")
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


def _median_of(section: Section, what: str, params: str) -> float | None:
    row = next((r for r in section.rows if r.what == what and r.params == params), None)
    return row.series.median if row is not None and row.series is not None and row.series.n else None


def _breakdown(section: Section, per_n: dict[int, dict[str, Series]]) -> list[str]:
    """Where plinth's wall time goes at each N: fixed start-up, the fleet, the console report —
    the numbers behind a missed ratio."""
    startup = _median_of(section, "plinth start-up: python + imports, no host", "-")
    out = []
    for n, series in per_n.items():
        plinth, pdsh = series.get("plinth"), series.get("pdsh")
        render = _median_of(section, "  of which: console report rendering", f"N={n}")
        if plinth is None or not _clean(plinth).n or startup is None or render is None:
            continue
        total = _clean(plinth).median
        fleet = total - startup - render
        floor = f"; pdsh, the floor, took {fmt(_clean(pdsh).median)} s" if pdsh is not None and _clean(pdsh).n else ""
        out.append(f"Breakdown at N={n}: plinth {fmt(total)} s = start-up {fmt(startup)} s + console report "
                   f"{fmt(render)} s + fleet (connect, probe, judge, JSON) {fmt(fleet)} s{floor}.")
    return out


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
