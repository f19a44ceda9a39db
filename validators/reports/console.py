"""Console report: a rich table per node (check, status, measured vs threshold, message), the
fleet's cross-node results, and a summary line with the score and the seed's verdict words."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from validators.reports.common import COLOUR, gaps, measured_text, threshold_text, verdict
from validators.results import CheckResult, Report


def _table(title: str, checks: list[CheckResult]) -> Table:
    table = Table(title=title, title_justify="left", expand=False, show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("measured", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("message", overflow="fold")
    for c in checks:
        table.add_row(c.id, Text(c.status.upper(), style=COLOUR[c.status]), measured_text(c), threshold_text(c), Text(c.message))
    return table


def _remediations(report: Report) -> list[tuple[str, CheckResult]]:
    rows = [(n.name, c) for n in report.nodes for c in n.checks] + [("fleet", c) for c in report.fleet]
    return [(node, c) for node, c in rows if c.remediation and c.status in ("fail", "warn", "error")]


def render(report: Report, console: Console | None = None) -> None:
    # CI logs are not terminals and rich would assume 80 columns: give the message room
    out = console or (Console() if Console().is_terminal else Console(width=160))
    for n in report.nodes:
        state = "" if n.reachable else " [bold red](unreachable)[/]"
        named = gaps(n.checks)
        took = f" {n.duration_s:.1f}s" if n.duration_s is not None else ""
        state = took + state + (f" [red]gaps: {', '.join(named)}[/]" if named else "")
        out.print(_table(f"[bold]{n.name}[/] ({n.host}){state}", n.checks))
    if report.fleet:
        out.print(_table("[bold]fleet[/] (cross-node)", report.fleet))
    fixes = _remediations(report)
    if fixes:
        out.print("[bold]What to do[/]")
        for node, c in fixes:
            out.print(f"  [{COLOUR[c.status]}]{node} {c.id}[/]: {c.remediation}", highlight=False, soft_wrap=True)
    s = report.summary
    words = verdict(s.score)
    colour = "red" if s.score < 50 else "yellow" if s.score < 75 else "green"
    out.print(
        f"[bold]{report.profile}[/]: {s.nodes} node(s), [green]{s.passed} passed[/], [yellow]{s.warnings} warnings[/], "
        f"[red]{s.failed} failed[/], [magenta]{s.errors} errors[/], {s.skipped} skipped — "
        f"readiness score [bold {colour}]{s.score:.0f}/100: {words}[/]",
        highlight=False,
    )
