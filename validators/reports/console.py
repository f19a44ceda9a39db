"""Console report: a rich table per node (check, status, measured vs threshold, message), the
fleet's cross-node results, and a summary line with the score and the seed's verdict words.

Above :data:`COMPACT_ABOVE` nodes a table per node stops being readable (and costs seconds and
megabytes at 256 nodes: it is printed after the last node answered, so it is all on the critical
path). There the fleet view is one table grouped by check — counts per status and the worst nodes
named with their value — and a "What to do" list grouped by check instead of per node.
``details=True`` (``plinth validate --details``) forces the per-node tables.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from validators.reports.common import COLOUR, clean, gaps, measured_text, threshold_text, verdict
from validators.results import CheckResult, Report, Status

COMPACT_ABOVE = 8  # nodes; up to this many, one table per node
WORST_NAMED = 5  # nodes named per check in the compact view
# worst first: a fail is a verdict, an error is "not proven", a warn passes with no headroom
SEVERITY: dict[Status, int] = {"fail": 0, "error": 1, "warn": 2, "skip": 3, "pass": 4}
COUNTED: tuple[Status, ...] = ("pass", "warn", "fail", "error", "skip")


def _m(text: object, limit: int = 300) -> str:
    """Untrusted text (node names, messages, remediations) inside a markup string: inert and escaped,
    so a ``[/]`` from a node is shown, not parsed (rich.markup.escape)."""
    return escape(clean(text, limit))


def _table(title: str, checks: list[CheckResult]) -> Table:
    table = Table(title=title, title_justify="left", expand=False, show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("measured", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("message", overflow="fold")
    for c in checks:
        table.add_row(Text(clean(c.id, 80)), Text(c.status.upper(), style=COLOUR[c.status]), Text(clean(measured_text(c), 80)),
                      Text(clean(threshold_text(c), 80)), Text(clean(c.message, 1000)))
    return table


def _remediations(report: Report) -> list[tuple[str, CheckResult]]:
    rows = [(n.name, c) for n in report.nodes for c in n.checks] + [("fleet", c) for c in report.fleet]
    return [(node, c) for node, c in rows if c.remediation and c.status in ("fail", "warn", "error")]


def _miss(c: CheckResult) -> float:
    """How far a numeric value is from its bound, relative to the bound: ranks the worst first."""
    m, t = c.measured, c.threshold
    if isinstance(m, bool) or isinstance(t, bool) or not isinstance(m, (int, float)) or not isinstance(t, (int, float)):
        return 0.0
    return abs(m - t) / abs(t) if t else abs(m - t)


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(names: list[str], total: int) -> str:
    more = total - len(names)
    return ", ".join(names) + (f" +{more} more" if more > 0 else "")


def _worst(rows: list[tuple[str, CheckResult]], unreachable: set[str]) -> Text:
    """Up to WORST_NAMED nodes that did not pass, worst first, each with its value (else its
    message); nodes with the same value are named together, unreachable ones just as such."""
    bad = [(node, c) for node, c in rows if c.status in ("fail", "error", "warn")]
    if not bad:
        return Text("—", style="dim")
    bad.sort(key=lambda nc: (SEVERITY[nc[1].status], -_miss(nc[1])))  # stable: inventory order among equals
    groups: dict[tuple[str, Status], list[str]] = {}
    for node, c in bad[:WORST_NAMED]:
        if node in unreachable:
            detail = " unreachable"
        elif c.measured is not None:
            detail = " " + clean(measured_text(c), 80)
        else:
            detail = ": " + _short(clean(c.message), 60)
        groups.setdefault((detail, c.status), []).append(node)
    out = Text()
    for i, ((detail, status), nodes) in enumerate(groups.items()):
        out.append(("; " if i else "") + ", ".join(clean(n, 80) for n in nodes) + detail, style=COLOUR[status])
    if len(bad) > WORST_NAMED:
        out.append(f" +{len(bad) - WORST_NAMED} more")
    return out


def _by_check(pairs: Iterable[tuple[str, CheckResult]]) -> dict[str, list[tuple[str, CheckResult]]]:
    grouped: dict[str, list[tuple[str, CheckResult]]] = {}
    for node, c in pairs:
        grouped.setdefault(c.id, []).append((node, c))  # first-seen order = profile order
    return grouped


def _fleet_table(report: Report) -> Table:
    reachable = sum(1 for n in report.nodes if n.reachable)
    table = Table(title=f"[bold]{len(report.nodes)} nodes[/] ({reachable} reachable) — results by check; "
                        "a table per node: --details", title_justify="left", expand=False, show_lines=False)
    table.add_column("check", no_wrap=True)
    for status in COUNTED:
        table.add_column(status, justify="right", no_wrap=True)
    table.add_column(f"worst nodes (up to {WORST_NAMED})", overflow="fold")
    down = {n.name for n in report.nodes if not n.reachable}
    for check_id, rows in _by_check((n.name, c) for n in report.nodes for c in n.checks).items():
        count = Counter(c.status for _, c in rows)
        cells = [Text(str(count[s]), style=COLOUR[s]) if count[s] else Text("·", style="dim") for s in COUNTED]
        table.add_row(Text(clean(check_id, 80)), *cells, _worst(rows, down))
    return table


def bounded_fleet(fleet: list[CheckResult]) -> list[CheckResult]:
    """At most WORST_NAMED rows per fleet check (worst first), then one row saying how many more:
    an outlier check names one node per result, which is thousands of rows at 10,000 nodes. The
    JSON, JUnit and other file reports keep every result."""
    out: list[CheckResult] = []
    for check_id, rows in _by_check(("fleet", c) for c in fleet).items():
        results = sorted((c for _, c in rows), key=lambda c: SEVERITY[c.status])
        out += results[:WORST_NAMED]
        rest = results[WORST_NAMED:]
        if rest:
            count = Counter(c.status for c in rest)
            more = ", ".join(f"{count[st]} {st}" for st in COUNTED if count[st])
            out.append(CheckResult.make(check_id, rest[0].status, f"+{len(rest)} more ({more}): every one is in the file reports"))
    return out


def _render_compact(report: Report, out: Console) -> None:
    down = [n.name for n in report.nodes if not n.reachable]
    if down:
        out.print(f"[bold red]unreachable:[/] {len(down)} node(s): {_m(_names(down[:WORST_NAMED], len(down)), 1000)}", highlight=False)
    named = Counter(g for n in report.nodes for g in gaps(n.checks))
    if named:
        out.print("[red]gaps:[/] " + ", ".join(f"{g} on {k} node(s)" for g, k in named.most_common()), highlight=False)
    out.print(_fleet_table(report))
    if report.fleet:
        out.print(_table("[bold]fleet[/] (cross-node)", bounded_fleet(report.fleet)))
    fixes = _by_check(_remediations(report))
    if fixes:
        out.print("[bold]What to do[/]")
    for check_id, rows in fixes.items():
        by_fix: dict[str, list[tuple[str, CheckResult]]] = {}
        for node, c in rows:
            by_fix.setdefault(c.remediation or "", []).append((node, c))
        for fix, group in by_fix.items():
            group.sort(key=lambda nc: SEVERITY[nc[1].status])
            worst = group[0][1].status
            count = Counter(c.status for _, c in group)
            counts = ", ".join(f"{count[s]} {s}" for s in ("fail", "error", "warn") if count[s])
            nodes = list(dict.fromkeys(node for node, _ in group))  # a fleet check can name "fleet" twice
            out.print(f"  [{COLOUR[worst]}]{_m(check_id, 80)}[/] ({counts}: {_m(_names(nodes[:WORST_NAMED], len(nodes)), 1000)}): {_m(fix, 1000)}",
                      highlight=False, soft_wrap=True)


def _render_per_node(report: Report, out: Console) -> None:
    for n in report.nodes:
        state = "" if n.reachable else " [bold red](unreachable)[/]"
        named = gaps(n.checks)
        took = f" {n.duration_s:.1f}s" if n.duration_s is not None else ""
        state = took + state + (f" [red]gaps: {', '.join(named)}[/]" if named else "")
        out.print(_table(f"[bold]{_m(n.name, 80)}[/] ({_m(n.host, 260)}){state}", n.checks))
    if report.fleet:
        out.print(_table("[bold]fleet[/] (cross-node)", report.fleet))
    fixes = _remediations(report)
    if fixes:
        out.print("[bold]What to do[/]")
        for node, c in fixes:
            out.print(f"  [{COLOUR[c.status]}]{_m(node, 80)} {_m(c.id, 80)}[/]: {_m(c.remediation, 1000)}", highlight=False, soft_wrap=True)


def render(report: Report, console: Console | None = None, *, details: bool = False) -> None:
    # CI logs are not terminals and rich would assume 80 columns: give the message room
    out = console or (Console() if Console().is_terminal else Console(width=160))
    if len(report.nodes) > COMPACT_ABOVE and not details:
        _render_compact(report, out)
    else:
        _render_per_node(report, out)
    s = report.summary
    words = verdict(s.score)
    colour = "red" if s.score < 50 else "yellow" if s.score < 75 else "green"
    out.print(
        f"[bold]{_m(report.profile, 100)}[/]: {s.nodes} node(s), [green]{s.passed} passed[/], [yellow]{s.warnings} warnings[/], "
        f"[red]{s.failed} failed[/], [magenta]{s.errors} errors[/], {s.skipped} skipped — "
        f"readiness score [bold {colour}]{s.score:.0f}/100: {words}[/]",
        highlight=False,
    )
