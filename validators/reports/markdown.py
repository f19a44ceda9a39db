"""Markdown for a CI step summary ($GITHUB_STEP_SUMMARY): the verdict first, then one line per
node (worst nodes first), then only what needs attention (fail, then error, then warn), with every
check folded away below.

Bounded for any fleet: GitHub refuses a step summary over 1 MiB ("$GITHUB_STEP_SUMMARY upload
aborted, supports content up to a size of 1024k"), which would lose the whole summary. Each table
has a row cap and ends with an "… and N more" row pointing at the JSON report, and the document as
a whole stays under :data:`MAX_BYTES` whatever the fleet or its messages (:class:`_Budget`).

Text from nodes is data: :func:`clean` makes it inert, then ``html.escape`` and backslashes make
it plain text in GitHub's Markdown (a node's ``</details>``, ``<img>``, ``|``, ``[link](…)`` or
bare ``https://…`` shows as typed, never as a link).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from validators.reports.common import EMOJI, clean, measured_text, threshold_text, verdict
from validators.results import CheckResult, NodeReport, Report, Status

MAX_BYTES = 768 * 1024  # GitHub's limit is 1 MiB per step; leave room for what other steps append
NODE_ROWS = 100  # rows of the per-node table
ATTENTION_ROWS = 200  # rows of "Needs attention"
ALL_ROWS = 500  # rows of the folded "All checks" table
CELL_LIMIT = 300  # characters of one cell (a message); ids and names are shorter
ORDER: dict[Status, int] = {"fail": 0, "error": 1, "warn": 2, "skip": 3, "pass": 4}
T = TypeVar("T")
_MD_INLINE = re.compile(r"([\\`*_\[\]|~])")  # what starts emphasis, code, links, strikethrough, cells
# GitHub's autolink extension (cmark-gfm) makes a bare "https://…", "ftp://…" or "www.…" in text a
# link: a node could put a clickable link of its choosing in the CI summary. A backslash before the
# ':' of "://" and the '.' after "www" stops it (checked with cmark-gfm) and renders as nothing.
# An e-mail address still becomes a mailto: link (escapes do not stop that one): a mail draft at most.
_AUTOLINK = re.compile(r"(?i):(?=//)|(?<=\bwww)\.")


def _cell(text: object, limit: int = CELL_LIMIT) -> str:
    """One table cell of plain text: inert, HTML-escaped (no tag from a node is ever HTML), Markdown
    punctuation backslash-escaped, line breaks as <br> (clean() left only newlines)."""
    s = html.escape(clean(text, limit, multiline=True), quote=False)
    s = _MD_INLINE.sub(r"\\\1", s)
    return _AUTOLINK.sub(lambda m: "\\" + m.group(0), s).replace("\n", "<br>")


def _code(text: object) -> str:
    """A check id as inline code: inside a code span nothing is Markdown or HTML, but a backtick
    would end it and a pipe would still end the table cell (GFM)."""
    return "`" + clean(text, 80).replace("`", "'").replace("|", "\\|") + "`"


class _Budget:
    """Lines of the document, refusing any that would take it past ``limit`` bytes (UTF-8)."""

    def __init__(self, limit: int) -> None:
        self.lines: list[str] = []
        self.left = limit

    def add(self, line: str) -> bool:
        size = len(line.encode("utf-8")) + 1
        if size > self.left:
            return False
        self.lines.append(line)
        self.left -= size
        return True

    def table(self, header: list[str], items: Sequence[T], row: Callable[[T], str], cap: int, what: str,
              reserve: int = 0) -> None:
        """Header, then one row per item up to ``cap`` and the byte budget (keeping ``reserve`` bytes
        for what follows), then one "… and N more" row if any were left out. Only the rows shown
        are formatted: 10,000 nodes cost what 100 do."""
        width = header[0].count("|") - 1
        for line in header:
            self.add(line)
        shown = 0
        for item in items[:cap]:
            text = row(item)
            if self.left - reserve < len(text.encode("utf-8")) + 200 or not self.add(text):
                break
            shown += 1
        more = len(items) - shown
        if more:
            self.add("| " + " | ".join([f"… and {more:,} more {what} (see the JSON report)"] + [""] * (width - 1)) + " |")


def _severity(n: NodeReport) -> tuple[int, int]:
    """Worst nodes first: unreachable, then by their worst status."""
    worst = min((ORDER[c.status] for c in n.checks), default=ORDER["pass"])
    return (0 if not n.reachable else 1, worst)


def _check_row(item: tuple[str, CheckResult]) -> str:
    node, c = item
    return (f"| {_cell(node, 80)} | {_code(c.id)} | {EMOJI[c.status]} {c.status} | {_cell(measured_text(c), 80)} | "
            f"{_cell(threshold_text(c), 80)} | {_cell(c.message)} |")


def _node_row(n: NodeReport) -> str:
    count = {st: 0 for st in STATUSES}
    for c in n.checks:
        count[c.status] += 1
    return (f"| {_cell(n.name, 80)} | {_cell(n.host, 80)} | {'yes' if n.reachable else '**no**'} | "
            + " | ".join(str(count[st]) for st in STATUSES) + " |")


CHECK_HEADER = ["| node | check | status | measured | threshold | message |", "|---|---|---|---|---|---|"]
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail", "error", "skip")


def render(report: Report, title: str = "plinth validate") -> str:
    s = report.summary
    doc = _Budget(MAX_BYTES)
    doc.add(f"## {_cell(title, 100)} — {_code(report.profile)}")
    doc.add("")
    doc.add(f"**Readiness score {s.score:.0f}/100 — {verdict(s.score)}** · {s.nodes} node(s) · "
            f"{s.passed} passed · {s.warnings} warnings · {s.failed} failed · {s.errors} errors · {s.skipped} skipped")
    doc.add("")
    reserve = 4096  # the headings and the closing </details> always fit
    doc.table(["| node | host | reachable | pass | warn | fail | error | skip |", "|---|---|---|---|---|---|---|---|"],
              sorted(report.nodes, key=_severity), _node_row, NODE_ROWS, "nodes", reserve)  # stable: inventory order among equals
    every = [(n.name, c) for n in report.nodes for c in n.checks] + [("fleet", c) for c in report.fleet]
    attention = sorted(((node, c) for node, c in every if c.status in ("fail", "error", "warn")), key=lambda r: ORDER[r[1].status])
    doc.add("")
    doc.add("### Needs attention" if attention else "### Nothing needs attention")
    doc.add("")
    if attention:
        doc.table(CHECK_HEADER, attention, _check_row, ATTENTION_ROWS, "results", reserve)
        doc.add("")
    doc.add("<details><summary>All checks</summary>")
    doc.add("")
    doc.table(CHECK_HEADER, sorted(every, key=lambda r: ORDER[r[1].status]), _check_row, ALL_ROWS, "results", 64)
    doc.add("")
    doc.add("</details>")
    doc.add("")
    return "\n".join(doc.lines)
