"""Markdown for a CI step summary ($GITHUB_STEP_SUMMARY): the verdict first, then one line per
node, then only what needs attention (fail, error, warn), with every check folded away below.
Large fleets stay readable and well under GitHub's 1 MiB summary limit."""

from __future__ import annotations

from validators.reports.common import EMOJI, measured_text, threshold_text, verdict
from validators.results import CheckResult, Report


def _cell(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def _rows(rows: list[tuple[str, CheckResult]]) -> list[str]:
    out = ["| node | check | status | measured | threshold | message |", "|---|---|---|---|---|---|"]
    for node, c in rows:
        out.append(f"| {_cell(node)} | `{c.id}` | {EMOJI[c.status]} {c.status} | {_cell(measured_text(c))} | "
                   f"{_cell(threshold_text(c))} | {_cell(c.message)} |")
    return out


def render(report: Report, title: str = "plinth validate") -> str:
    s = report.summary
    lines = [
        f"## {title} — `{report.profile}`", "",
        (f"**Readiness score {s.score:.0f}/100 — {verdict(s.score)}** · {s.nodes} node(s) · "
         f"{s.passed} passed · {s.warnings} warnings · {s.failed} failed · {s.errors} errors · {s.skipped} skipped"), "",
        "| node | host | reachable | pass | warn | fail | error | skip |", "|---|---|---|---|---|---|---|---|",
    ]
    for n in report.nodes:
        count = {st: sum(1 for c in n.checks if c.status == st) for st in ("pass", "warn", "fail", "error", "skip")}
        lines.append(f"| {_cell(n.name)} | {_cell(n.host)} | {'yes' if n.reachable else '**no**'} | "
                     + " | ".join(str(count[st]) for st in ("pass", "warn", "fail", "error", "skip")) + " |")
    every = [(n.name, c) for n in report.nodes for c in n.checks] + [("fleet", c) for c in report.fleet]
    attention = [(node, c) for node, c in every if c.status in ("fail", "error", "warn")]
    order = {"fail": 0, "error": 1, "warn": 2}
    attention.sort(key=lambda r: order[r[1].status])
    lines += ["", "### Needs attention" if attention else "### Nothing needs attention", ""]
    if attention:
        lines += _rows(attention)
        lines.append("")
    lines += ["<details><summary>All checks</summary>", "", *_rows(every), "", "</details>", ""]
    return "\n".join(lines)
