"""Console report: what a person reads after `plinth audit` / `plinth validate`, at any width
from 80 columns up.

Up to :data:`COMPACT_ABOVE` nodes (or with ``details``), a block per node::

    gpu-0 (10.0.1.10) 2.1s  gaps: NO_GPU_DETECTED
      FAIL   gpu.count: 0 GPUs, threshold 8 GPUs
             no NVIDIA driver (nvidia-smi not found on PATH): 0 of 8 GPUs visible
      12 passed, 3 skipped (--verbose lists them)
    gpu-2 (10.0.1.12) unreachable: 10.0.1.12:22: connection refused

one line per check that needs attention (fail, error, warn: worst first) with its message beneath,
wrapped at word boundaries; passes and skips counted, listed with ``verbose``. A node that was never
checked (unreachable, probe failed, interrupted) is one line with the reason: the reports still
carry each of its checks as ``error``, so the counts, the JUnit totals and the score stay honest,
but the console does not repeat the reason once per check nor name readiness gaps it never looked
for. Then the cross-node results, "What to do" (one entry per check and remedy, naming the nodes),
a recap per node (Ansible's PLAY RECAP: ``ok= warn= failed= error= skipped= unreachable=``) and the
summary line with the score.

Above that, the fleet view (console_fleet.py): one line per check with counts and the worst nodes.

Width: the console's own (the terminal, else ``$COLUMNS``, else rich's default of 80); nothing is
forced wider for CI logs -- a layout that reads at 80 columns needs no more.
"""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.text import Text

from validators.reports.common import COLOUR, clean, gaps, verdict
from validators.reports.console_text import (
    INDENT,
    WORST_NAMED,
    bounded_fleet,
    check_list,
    emit,
    fleet_block,
    unchecked_line,
    unchecked_reason,
    what_to_do,
)
from validators.results import NodeReport, Report, Status

COMPACT_ABOVE = 8  # nodes; up to this many, a block per node
RECAP_NAME = 24  # characters of a node name in the recap (the rest of the line is ~50)


def _node(out: Console, n: NodeReport, verbose: bool, seen: dict[tuple[str, str, str], str]) -> None:
    reason = unchecked_reason(n)
    if reason is not None:
        unchecked_line(out, n, reason)
        return
    head = Text(clean(n.name, 80), style="bold") + Text(f" ({clean(n.host, 260)})")
    if n.duration_s is not None:
        head += Text(f" {n.duration_s:.1f}s")
    named = gaps(n.checks)
    if named:
        head += Text("  gaps: " + ", ".join(named), style="red")
    emit(out, head, INDENT + 2, first=Text())
    check_list(out, n.checks, verbose, seen=seen, node=n.name)


def _recap(out: Console, report: Report) -> None:
    """Per node, like Ansible's PLAY RECAP: counts by status, and whether it was reached."""
    rows: list[tuple[str, Counter[Status], bool | None]] = [
        (clean(n.name, RECAP_NAME), Counter(c.status for c in n.checks), not n.reachable) for n in report.nodes]
    if report.fleet:
        rows.append(("fleet", Counter(c.status for c in report.fleet), None))
    fields: tuple[tuple[str, Status], ...] = (("ok", "pass"), ("warn", "warn"), ("failed", "fail"), ("error", "error"),
                                              ("skipped", "skip"))
    digits = {key: max(len(str(count[key])) for _, count, _ in rows) for _, key in fields}
    name_width = max(len(name) for name, _, _ in rows)
    out.print(Text("Recap", style="bold"))
    for name, count, down in rows:
        line = Text(" " * INDENT) + Text(name.ljust(name_width), style="bold") + Text(" ")
        for word, key in fields:
            cell = f" {word}={count[key]:<{digits[key]}}"
            line += Text(cell, style=COLOUR[key] if count[key] and key != "pass" else "")
        if down is not None:
            line += Text(f" unreachable={int(down)}", style="bold red" if down else "")
        line.rstrip()  # the last column's padding
        out.print(line, highlight=False)


def summary(out: Console, report: Report) -> None:
    s = report.summary
    down = sum(1 for n in report.nodes if not n.reachable)
    colour = "red" if s.score < 50 else "yellow" if s.score < 75 else "green"
    line = (Text(clean(report.profile, 100), style="bold")
            + Text(f": {s.nodes} node(s), ") + Text(f"{s.passed} passed", style="green") + Text(", ")
            + Text(f"{s.warnings} warnings", style="yellow") + Text(", ") + Text(f"{s.failed} failed", style="red")
            + Text(", ") + Text(f"{s.errors} errors", style="magenta") + Text(f", {s.skipped} skipped — ")
            + Text(f"readiness score {s.score:.0f}/100: {verdict(s.score)}", style=f"bold {colour}"))
    if down:  # validators/score.py: an unreachable node scores 0 (not proven is not ready)
        line += Text(f"; {down} unreachable node(s) score 0" if down > 1 else "; the unreachable node scores 0")
    emit(out, line, INDENT, first=Text())


def _render_per_node(report: Report, out: Console, verbose: bool) -> None:
    seen: dict[tuple[str, str, str], str] = {}
    for n in report.nodes:
        _node(out, n, verbose, seen)
    fleet_block(out, report.fleet, verbose)
    what_to_do(out, [(n.name, c) for n in report.nodes for c in n.checks] + [("fleet", c) for c in report.fleet])
    _recap(out, report)


def render(report: Report, console: Console | None = None, *, details: bool = False, verbose: bool = False) -> None:
    """Print ``report`` on ``console`` (default: stdout at its own width). ``details``: a block per
    node whatever the fleet's size; ``verbose``: every check, passes and skips included."""
    out = console or Console()
    if len(report.nodes) > COMPACT_ABOVE and not details:
        from validators.reports.console_fleet import render_fleet

        render_fleet(report, out, verbose)
    else:
        _render_per_node(report, out, verbose)
    summary(out, report)


__all__ = ["COMPACT_ABOVE", "WORST_NAMED", "bounded_fleet", "render", "summary"]
