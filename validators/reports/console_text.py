"""The console's building blocks, shared by the per-node view (console.py) and the fleet view
(console_fleet.py): status labels, one check as a line with its message beneath, text wrapped at
word boundaries with a hanging indent, which nodes were never checked, "What to do" grouped by
check, the recap.

Every line is wrapped here to the console's width (rich ``Text.wrap``: word boundaries; only a
single word longer than the line is folded) and printed with no padding, so a log at 80 columns
reads like a terminal at 80 columns and no line ends in spaces. Text from a node is ``Text``, never
markup: it is shown, not parsed (:func:`~validators.reports.common.clean` first).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rich.console import Console
from rich.text import Text

from validators.reports.common import COLOUR, clean, measured_text, threshold_text
from validators.results import CheckResult, NodeReport, Status

# worst first: a fail is a verdict, an error is "not proven", a warn passes with no headroom
SEVERITY: dict[Status, int] = {"fail": 0, "error": 1, "warn": 2, "skip": 3, "pass": 4}
PROBLEMS: tuple[Status, ...] = ("fail", "error", "warn")
LABEL: dict[Status, str] = {"fail": "FAIL", "error": "ERROR", "warn": "WARN", "skip": "SKIP", "pass": "PASS"}
INDENT = 2  # a node's lines under its header
MIN_WIDTH = 40  # narrower consoles still get a readable, if long, layout
WORST_NAMED = 5  # nodes named per line before "+N more"
UNREACHABLE_PREFIX = "unreachable: "


def emit(out: Console, text: Text, indent: int = 0, first: Text | None = None) -> None:
    """Print ``text`` wrapped at word boundaries to the console's width less ``indent``, every line
    indented by ``indent`` spaces; ``first`` (at most as wide) replaces the first line's indent, for
    a hanging indent."""
    lines = text.wrap(out, max(MIN_WIDTH, out.width) - indent, overflow="fold")
    for i, line in enumerate(lines):
        line.rstrip()
        lead = first if i == 0 and first is not None else Text(" " * indent)
        out.print(lead + line, no_wrap=True, overflow="ignore", crop=False, highlight=False)


def value_text(c: CheckResult) -> str:
    """``2 cores, threshold 8 cores``; ``false, expected true`` for a yes/no or a named value."""
    if c.measured is None:
        return ""
    measured = clean(measured_text(c), 80)
    if c.threshold is None:
        return measured
    word = "expected" if isinstance(c.threshold, (bool, str)) else "threshold"
    return f"{measured}, {word} {clean(threshold_text(c), 80)}"


def check_lines(out: Console, c: CheckResult, indent: int = INDENT, same_as: str | None = None) -> None:
    """``  FAIL   gpu.count: 0 GPUs, threshold 1 GPUs`` and the message beneath, both wrapped.
    ``same_as``: a node printed earlier with this very result; its message is not repeated."""
    label = Text(" " * indent) + Text(LABEL[c.status].ljust(5), style=COLOUR[c.status]) + Text("  ")
    value = value_text(c)
    head = Text(clean(c.id, 80), style="bold") + Text(f": {value}" if value else "")
    if same_as is not None:
        head += Text(f" (as on {clean(same_as, 80)})", style="dim")
    body = indent + 7
    emit(out, head, body, first=label)
    message = clean(c.message, 1000)
    if message and message != value and same_as is None:
        emit(out, Text(message), body)


def unchecked_reason(n: NodeReport) -> str | None:
    """Why a node has no judged results, or None when it has some: not reached (or, from a facts
    store, no usable facts), or reached with every check ``error`` for one and the same reason (the
    probe failed, the node's budget ran out, the run was interrupted) -- what the judging path
    reports for a node it has no facts for."""
    messages = {c.message for c in n.checks}
    if not n.reachable:
        return next(iter(messages)) if len(messages) == 1 else "unreachable"
    if n.checks and len(messages) == 1 and all(c.status == "error" for c in n.checks):
        return next(iter(messages))
    return None


def unchecked_line(out: Console, n: NodeReport, reason: str) -> None:
    """``gpu-2 (10.0.1.12) unreachable: 10.0.1.12:22: connection refused`` (or ``not checked:
    probe failed: …``) -- one line (wrapped), instead of one error row per check the node was never
    checked for."""
    word, rest = ("unreachable", reason.removeprefix(UNREACHABLE_PREFIX)) if reason.startswith(UNREACHABLE_PREFIX) \
        else ("not checked", reason)
    text = (Text(clean(n.name, 80), style="bold") + Text(f" ({clean(n.host, 260)}) ")
            + Text(word, style="bold red") + Text(": " + clean(rest, 1000)))
    emit(out, text, 4, first=Text())


def names(items: list[str]) -> str:
    """``a, b, c, d, e +3 more``"""
    shown = [clean(n, 80) for n in items[:WORST_NAMED]]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" +{more} more" if more > 0 else "")


def count_words(statuses: Iterable[Status], order: tuple[Status, ...] = ("fail", "error", "warn", "pass", "skip")) -> str:
    count = Counter(statuses)
    words = {"fail": "failed", "error": "errors", "warn": "warnings", "pass": "passed", "skip": "skipped"}
    return ", ".join(f"{count[s]} {words[s]}" for s in order if count[s])


def what_to_do(out: Console, rows: list[tuple[str, CheckResult]]) -> None:
    """One entry per check and remedy, naming the nodes it applies to (worst first, bounded):
    the same fix for eight nodes is printed once."""
    groups: dict[tuple[str, str], list[tuple[str, CheckResult]]] = {}
    for node, c in rows:
        if c.remediation and c.status in PROBLEMS:
            groups.setdefault((c.id, c.remediation), []).append((node, c))
    if not groups:
        return
    out.print(Text("What to do", style="bold"))
    for (check_id, fix), group in groups.items():
        group.sort(key=lambda nc: SEVERITY[nc[1].status])
        count = Counter(c.status for _, c in group)
        counts = ", ".join(f"{count[s]} {s}" for s in PROBLEMS if count[s])
        nodes = list(dict.fromkeys(node for node, _ in group))  # a fleet check can name "fleet" twice
        head = Text(clean(check_id, 80), style=COLOUR[group[0][1].status]) + Text(f" ({counts}: {names(nodes)}): ")
        emit(out, head + Text(clean(fix, 1000)), INDENT + 2, first=Text(" " * INDENT))


def rest_line(out: Console, checks: list[CheckResult]) -> None:
    rest = count_words((c.status for c in checks if c.status not in PROBLEMS), ("pass", "skip"))
    if rest:
        emit(out, Text(f"{rest} (--verbose lists them)", style="dim"), INDENT, first=Text(" " * INDENT))


def check_list(out: Console, checks: list[CheckResult], verbose: bool,
               seen: dict[tuple[str, str, str], str] | None = None, node: str = "") -> None:
    """Problems worst first, then the rest: listed when ``verbose``, else counted on one line.
    ``seen`` maps (check, status, message) to the first node shown with it: a result the same to the
    letter on a later ``node`` is one line (a fleet built from one image fails the same way on every
    node)."""
    for c in sorted(checks, key=lambda c: SEVERITY[c.status]):  # stable: profile order among equals
        if c.status not in PROBLEMS and not verbose:
            continue
        same_as = None
        if seen is not None:
            same_as = seen.setdefault((c.id, c.status, c.message), node)
            same_as = None if same_as == node else same_as
        check_lines(out, c, same_as=same_as)
    if not verbose:
        rest_line(out, checks)


def bounded_fleet(fleet: list[CheckResult]) -> list[CheckResult]:
    """At most WORST_NAMED rows per fleet check (worst first), then one row saying how many more:
    an outlier check names one node per result, which is thousands of rows at 10,000 nodes. The
    JSON, JUnit and other file reports keep every result."""
    by_check: dict[str, list[CheckResult]] = {}
    for c in fleet:
        by_check.setdefault(c.id, []).append(c)  # first-seen order = profile order
    out: list[CheckResult] = []
    for check_id, rows in by_check.items():
        results = sorted(rows, key=lambda c: SEVERITY[c.status])
        out += results[:WORST_NAMED]
        rest = results[WORST_NAMED:]
        if rest:
            count = Counter(c.status for c in rest)
            more = ", ".join(f"{count[st]} {st}" for st in ("pass", "warn", "fail", "error", "skip") if count[st])
            out.append(CheckResult.make(check_id, rest[0].status, f"+{len(rest)} more ({more}): every one is in the file reports"))
    return out


def fleet_block(out: Console, fleet: list[CheckResult], verbose: bool) -> None:
    """The cross-node results; nothing when all of them were skipped (one node, no object store) and
    not ``verbose``: the recap still counts them."""
    if fleet and (verbose or any(c.status != "skip" for c in fleet)):
        out.print(Text("fleet", style="bold") + Text(" (cross-node)"))
        # an outlier check names one node per result: thousands at 10,000 nodes
        check_list(out, bounded_fleet(fleet), verbose)


__all__ = ["INDENT", "LABEL", "PROBLEMS", "SEVERITY", "WORST_NAMED", "bounded_fleet", "check_lines", "check_list", "count_words", "emit",
           "fleet_block", "names", "unchecked_line", "unchecked_reason", "value_text", "what_to_do"]
