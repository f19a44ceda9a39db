"""The console's fleet view, above console.COMPACT_ABOVE nodes: a block per node stops being readable
there (and costs seconds and megabytes at 256 nodes, all after the last node answered)::

    40 nodes (38 reachable): results by check; a block per node: --details
    gpu-07 (10.0.1.7) unreachable: 10.0.1.7:22: connection refused
    gaps: NO_GPU_DETECTED on 3 node(s)
    check                               pass  warn  fail error  skip
    gpu.count                             35     ·     3     ·     ·
      gpu-03 0 GPUs; gpu-11 4 GPUs; gpu-30 6 GPUs

One line of counts per check over the nodes that were checked (the unreachable ones are named once
above, not counted again under every check; checks skipped on every node named together on one
line unless ``verbose``), the worst nodes beneath it -- up to WORST_NAMED, fails
first, the biggest miss first, with their value -- then the cross-node results, "What to do" grouped
by check, and a recap by outcome. Every line fits 80 columns. Bounded whatever the fleet: the
unreachable list and every name list end in "+N more"; the file reports keep everything.
"""

from __future__ import annotations

import heapq
from collections import Counter

from rich.console import Console
from rich.text import Text

from validators.reports.common import COLOUR, clean, gaps, measured_text
from validators.reports.console_text import (
    INDENT,
    PROBLEMS,
    SEVERITY,
    WORST_NAMED,
    emit,
    fleet_block,
    names,
    unchecked_line,
    unchecked_reason,
    what_to_do,
)
from validators.results import CheckResult, NodeReport, Report, Status

COUNTED: tuple[Status, ...] = ("pass", "warn", "fail", "error", "skip")
UNCHECKED_LINES = 10  # never-checked nodes named one per line; the rest counted
ID_WIDTH = 34  # the longest built-in check id is 31 characters; 34 + 5 x 6 counts = 64 columns
OUTCOMES = ("failed", "warn", "ok")


def _miss(c: CheckResult) -> float:
    """How far a numeric value is from its bound, relative to the bound: ranks the worst first."""
    m, t = c.measured, c.threshold
    if isinstance(m, bool) or isinstance(t, bool) or not isinstance(m, (int, float)) or not isinstance(t, (int, float)):
        return 0.0
    return abs(m - t) / abs(t) if t else abs(m - t)


def _worst(rows: list[tuple[str, CheckResult]]) -> Text | None:
    """Up to WORST_NAMED nodes that did not pass, worst first, each with its value (else its
    message); nodes with the same value are named together."""
    bad = [(node, c) for node, c in rows if c.status in PROBLEMS]
    if not bad:
        return None
    # the first WORST_NAMED of a stable sort, without sorting 10,000 rows (nsmallest is stable too):
    # inventory order among equals
    worst = heapq.nsmallest(WORST_NAMED, bad, key=lambda nc: (SEVERITY[nc[1].status], -_miss(nc[1])))
    groups: dict[tuple[str, Status], list[str]] = {}
    for node, c in worst:
        if c.measured is not None:
            detail = " " + clean(measured_text(c), 80)
        else:
            message = " ".join(clean(c.message).split())
            detail = ": " + (message if len(message) <= 60 else message[:59] + "…")
        groups.setdefault((detail, c.status), []).append(node)
    out = Text()
    for i, ((detail, status), nodes) in enumerate(groups.items()):
        out.append(("; " if i else "") + ", ".join(clean(n, 80) for n in nodes) + detail, style=COLOUR[status])
    if len(bad) > WORST_NAMED:
        out.append(f" +{len(bad) - WORST_NAMED} more")
    return out


def _by_check(nodes: list[NodeReport]) -> dict[str, list[tuple[str, CheckResult]]]:
    grouped: dict[str, list[tuple[str, CheckResult]]] = {}
    for n in nodes:
        for c in n.checks:
            grouped.setdefault(c.id, []).append((n.name, c))  # first-seen order = profile order
    return grouped


def _count_row(check_id: str, count: Counter[Status]) -> Text:
    row = Text(clean(check_id, ID_WIDTH).ljust(ID_WIDTH))
    for status in COUNTED:
        row += Text(str(count[status]).rjust(6), style=COLOUR[status]) if count[status] else Text("·".rjust(6), style="dim")
    return row


def _outcome(n: NodeReport) -> str:
    statuses = {c.status for c in n.checks}
    return "failed" if statuses & {"fail", "error"} else "warn" if "warn" in statuses else "ok"


def render_fleet(report: Report, out: Console, verbose: bool = False) -> None:
    unchecked = [(n, r) for n in report.nodes if (r := unchecked_reason(n)) is not None]
    skipped = {id(n) for n, _ in unchecked}
    checked = [n for n in report.nodes if id(n) not in skipped]
    reachable = sum(1 for n in report.nodes if n.reachable)
    emit(out, Text(f"{len(report.nodes)} nodes", style="bold")
         + Text(f" ({reachable} reachable): results by check; a block per node: --details"), INDENT, first=Text())
    for n, reason in unchecked[:UNCHECKED_LINES]:
        unchecked_line(out, n, reason)
    if len(unchecked) > UNCHECKED_LINES:
        more = unchecked[UNCHECKED_LINES:]
        emit(out, Text(f"+{len(more)} more not checked: {names([n.name for n, _ in more])} (each in the file reports)",
                       style="red"), INDENT, first=Text())
    named = Counter(g for n in checked for g in gaps(n.checks))
    if named:
        emit(out, Text("gaps: ", style="red") + Text(", ".join(f"{g} on {k} node(s)" for g, k in named.most_common())), INDENT, first=Text())
    out.print(Text("check".ljust(ID_WIDTH) + "".join(s.rjust(6) for s in COUNTED), style="bold"))
    skipped_everywhere = []
    for check_id, rows in _by_check(checked).items():
        count: Counter[Status] = Counter(c.status for _, c in rows)
        if set(count) == {"skip"} and not verbose:  # a row of dots: named on one line below instead
            skipped_everywhere.append(clean(check_id, 80))
            continue
        out.print(_count_row(check_id, count), no_wrap=True, overflow="ellipsis")
        worst = _worst(rows)
        if worst is not None:
            emit(out, worst, INDENT + 2, first=Text(" " * INDENT))
    if skipped_everywhere:
        emit(out, Text(f"skipped on every node: {', '.join(skipped_everywhere)}", style="dim"),
             INDENT, first=Text())
    fleet_block(out, report.fleet, verbose)
    what_to_do(out, [(n.name, c) for n in checked for c in n.checks] + [("fleet", c) for c in report.fleet])
    _recap(out, checked, unchecked)


def _recap(out: Console, checked: list[NodeReport], unchecked: list[tuple[NodeReport, str]]) -> None:
    """By outcome rather than per node: ``failed (3): gpu-03, gpu-11, gpu-30``."""
    by: dict[str, list[str]] = {o: [] for o in OUTCOMES}
    for n in checked:
        by[_outcome(n)].append(n.name)
    down = [n.name for n, _ in unchecked if not n.reachable]
    failed_probe = [n.name for n, _ in unchecked if n.reachable]  # reached, never judged: a failure
    by["failed"] = failed_probe + by["failed"]
    total = len(checked) + len(unchecked)
    parts = [f"{len(by[o])} {o}" for o in OUTCOMES if by[o]] + ([f"{len(down)} unreachable"] if down else [])
    out.print(Text("Recap", style="bold") + Text(f": {total} nodes, " + ", ".join(parts)))
    for word, nodes, style in (("failed", by["failed"], "red"), ("unreachable", down, "bold red"), ("warn", by["warn"], "yellow")):
        if nodes:
            emit(out, Text(word, style=style) + Text(f" ({len(nodes)}): {names(nodes)}"), INDENT + 4, first=Text(" " * INDENT))



__all__ = ["render_fleet"]
