"""A self-contained HTML report: one file to attach to a ticket or open from a CI artefact.

What it shows, top to bottom: the verdict and counts; "What to do first" (the problems ranked by
impact, each with its remediation and the nodes it hits); the fleet heatmap (nodes x checks); the
network between nodes (the pairwise matrix, and the collective/fabric tests' results where the run
had them); the cross-node checks; every node's checks, folded.

It is safe to open whatever the nodes sent:

* nothing is fetched: CSS is inline, pictures are inline SVG, there is no script at all, and a
  Content-Security-Policy ``<meta>`` says so to the browser (``default-src 'none'``; the one style
  sheet allowed by its SHA-256 hash, so not even an injected ``style=`` attribute applies);
* every string that came from a node, an inventory or a profile goes through
  :func:`~validators.reports.common.clean` (inert, bounded) and then :func:`html.escape`: a node
  named ``<script>`` is shown as the text ``<script>``.

Colour is never the only cue (WCAG 1.4.1): each heatmap cell carries a glyph (``✓ ! ✗ E –``) and a
tooltip, and the legend says which is which.

Large fleets stay readable and bounded: past :data:`MAX_ROWS` nodes the heatmap and the node
details show the nodes that need attention first and say how many more there are (the JSON report
keeps everything); the pair matrix becomes a list of the slowest pairs past :data:`MAX_MATRIX`.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable
from dataclasses import dataclass, field

from validators.reports.common import clean, measured_text, threshold_text, verdict
from validators.results import STATUSES, CheckResult, NodeReport, PairMeasurement, Report, Status
from validators.score import score_node

MAX_ROWS = 300  # nodes in the heatmap and in the per-node details
MAX_MATRIX = 40  # nodes in the pair matrix; above it, the slowest pairs as a list
SLOWEST_PAIRS = 25
TOP_ACTIONS = 10  # "What to do first" items shown unfolded
SEVERITY: dict[Status, int] = {"fail": 0, "error": 1, "warn": 2, "skip": 3, "pass": 4}
GLYPH: dict[Status, str] = {"pass": "✓", "warn": "!", "fail": "✗", "error": "E", "skip": "–"}
MEANING: dict[Status, str] = {"pass": "passed", "warn": "passed, little headroom", "fail": "failed",
                              "error": "could not run (not proven)", "skip": "not applicable / not run"}
# The heatmap's colours (GitHub Primer's, contrast >= 4.5:1 against white glyphs except skip,
# which carries dark text). The test that screenshots the report looks for FAIL_RGB in the picture.
FAIL_RGB = (0xCF, 0x22, 0x2E)

CSS = """
:root{color-scheme:light}
body{font:14px/1.45 system-ui,"DejaVu Sans",sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
.meta{color:#59636e}.verdict{font-size:18px;font-weight:600;margin:8px 0}
.band-urgent{color:#cf222e}.band-modern{color:#9a6700}.band-good{color:#1a7f37}
table{border-collapse:collapse}td,th{padding:3px 8px;text-align:left;vertical-align:top}
.list td,.list th{border-bottom:1px solid #eaeef2}
.heat{table-layout:fixed}.heat td.c{width:26px;height:22px;padding:0;text-align:center;font-weight:700;border:1px solid #fff}
.heat th.col{height:150px;width:26px;padding:0 0 4px;vertical-align:bottom}
.heat th.col span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:400;font-size:12px}
.heat th.row{font-weight:400;white-space:nowrap;padding-right:10px}
.s-pass{background:#1a7f37;color:#fff}.s-warn{background:#9a6700;color:#fff}.s-fail{background:#cf222e;color:#fff}
.s-error{background:#8250df;color:#fff}.s-skip{background:#d0d7de;color:#1f2328}.s-none{background:#f6f8fa;color:#8c959f}
.t-pass{color:#1a7f37}.t-warn{color:#9a6700}.t-fail{color:#a40e26}.t-error{color:#6639ba}.t-skip{color:#59636e}
.tag{font-weight:700;text-transform:uppercase;font-size:12px}
.mx td.v{min-width:52px;text-align:right;border:1px solid #fff}
.bw-ok{background:#dafbe1}.bw-low{background:#ffebe9;font-weight:700}.bw-err{background:#eaeef2}.bw-none{background:#fff}
.down{color:#a40e26;font-weight:600}.muted{color:#59636e}code{font-size:13px}
details{margin:4px 0}summary{cursor:pointer}ol li{margin:6px 0}
.legend span.c{display:inline-block;width:22px;height:18px;text-align:center;font-weight:700;margin:0 4px 0 12px}
"""
CSP = ("default-src 'none'; style-src 'sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
       + "'; img-src data:; base-uri 'none'; form-action 'none'")


def e(text: object, limit: int = 300) -> str:
    """Untrusted text as HTML: inert (common.clean), bounded, escaped (quotes too: it may sit in an
    attribute)."""
    return html.escape(clean(text, limit), quote=True)


def _band_class(score: float) -> str:
    return "band-urgent" if score < 50 else "band-modern" if score < 75 else "band-good"


def _tip(c: CheckResult) -> str:
    parts = [f"{c.id}: {c.status}"]
    if c.measured is not None or c.threshold is not None:
        parts.append(f"measured {measured_text(c)}, threshold {threshold_text(c)}")
    parts.append(c.message)
    return " — ".join(parts)


# ---------------------------------------------------------------- what to do first

@dataclass
class Action:
    check_id: str
    status: Status
    fix: str
    nodes: list[str] = field(default_factory=list)
    example: str = ""
    miss: float = 0.0


def _miss(c: CheckResult) -> float:
    m, t = c.measured, c.threshold
    if isinstance(m, bool) or isinstance(t, bool) or not isinstance(m, (int, float)) or not isinstance(t, (int, float)):
        return 0.0
    return abs(m - t) / abs(t) if t else abs(m - t)


def actions(report: Report) -> list[Action]:
    """The problems ranked by impact. Unreachable nodes come first (nothing about them is known;
    one access fix clears all of their checks at once), then fails before errors before warnings;
    within those, the ones that hit the most nodes (a cross-node result counts as the whole fleet);
    then the biggest miss. One action per (check, remediation)."""
    grouped: dict[tuple[str, str], Action] = {}
    down = [n for n in report.nodes if not n.reachable]
    rows = [(n.name, c) for n in report.nodes if n.reachable for c in n.checks] + [("fleet", c) for c in report.fleet]
    for node, c in rows:
        if c.status not in ("fail", "error", "warn"):
            continue
        key = (c.id, c.remediation or "")
        act = grouped.get(key)
        if act is None:
            act = grouped[key] = Action(c.id, c.status, c.remediation or "", example=c.message)
        if SEVERITY[c.status] < SEVERITY[act.status]:
            act.status, act.example = c.status, c.message
        if node not in act.nodes:
            act.nodes.append(node)
        act.miss = max(act.miss, _miss(c))
    total = len(report.nodes)
    # a cross-node result (an all-reduce below its floor, an outlier) holds back the whole fleet
    out = sorted(grouped.values(), key=lambda a: (SEVERITY[a.status], -(total if "fleet" in a.nodes else len(a.nodes)), -a.miss))
    if down:
        reason = next((c.message for c in down[0].checks), "unreachable")
        out.insert(0, Action("unreachable", "error", "Restore SSH access (address, port, user, key, known_hosts, jump host): "
                             "none of these nodes' checks could run.", [n.name for n in down], reason))
    return out


def _action_item(a: Action, total: int) -> str:
    names = ", ".join(e(n, 80) for n in a.nodes[:8]) + (f" +{len(a.nodes) - 8} more" if len(a.nodes) > 8 else "")
    scope = "the fleet" if a.nodes == ["fleet"] else f"{len(a.nodes)} of {total} node(s): {names}"
    fix = f"<br>{e(a.fix, 1000)}" if a.fix else ""
    return (f'<li><span class="tag t-{a.status}">{GLYPH[a.status]} {a.status}</span> <code>{e(a.check_id, 80)}</code> '
            f'on {scope}{fix}<br><span class="muted">{e(a.example, 300)}</span></li>')


def _what_to_do(report: Report) -> str:
    acts = actions(report)
    if not acts:
        return "<h2>What to do first</h2><p>Nothing: every check passed or was not applicable.</p>"
    total = len(report.nodes)
    first = "".join(_action_item(a, total) for a in acts[:TOP_ACTIONS])
    rest = acts[TOP_ACTIONS:]
    more = (f"<details><summary>{len(rest)} more</summary><ol start=\"{TOP_ACTIONS + 1}\">"
            + "".join(_action_item(a, total) for a in rest) + "</ol></details>") if rest else ""
    return f'<h2 id="todo">What to do first</h2><ol>{first}</ol>{more}'


# ---------------------------------------------------------------- heatmap and node details

def _worst(n: NodeReport) -> int:
    return min((SEVERITY[c.status] for c in n.checks), default=SEVERITY["error"])


def shown_nodes(report: Report) -> tuple[list[NodeReport], int]:
    """Every node up to MAX_ROWS, in inventory order; past it the worst nodes first (unreachable,
    then fails, errors, warnings), and how many were left out."""
    nodes = report.nodes
    if len(nodes) <= MAX_ROWS:
        return nodes, 0
    ranked = sorted(nodes, key=lambda n: (n.reachable, _worst(n)))  # stable: inventory order among equals
    return ranked[:MAX_ROWS], len(nodes) - MAX_ROWS


def _check_ids(nodes: Iterable[NodeReport]) -> list[str]:
    return list(dict.fromkeys(c.id for n in nodes for c in n.checks))  # first-seen: the profile's order


def _heatmap(report: Report) -> str:
    nodes, hidden = shown_nodes(report)
    ids = _check_ids(nodes)
    head = "".join(f'<th class="col" scope="col"><span>{e(i, 60)}</span></th>' for i in ids)
    rows = []
    for n in nodes:
        by_id = {c.id: c for c in n.checks}
        cells = []
        for i in ids:
            c = by_id.get(i)
            if c is None:
                cells.append('<td class="c s-none" title="not reported">·</td>')
            else:
                cells.append(f'<td class="c s-{c.status}" title="{e(_tip(c), 400)}">{GLYPH[c.status]}</td>')
        down = ' <span class="down">unreachable</span>' if not n.reachable else ""
        rows.append(f'<tr><th class="row" scope="row"><a href="#node-{_anchor(n.name)}">{e(n.name, 80)}</a>{down}</th>{"".join(cells)}</tr>')
    note = (f'<p class="muted">{hidden} more node(s) not shown (the {MAX_ROWS} shown are the ones that need attention '
            "first); the JSON report has every node.</p>") if hidden else ""
    return (f'<h2 id="heatmap">Fleet: nodes × checks</h2>{_legend()}<table class="heat" aria-label="check status per node">'
            f'<thead><tr><th></th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{note}')


def _legend() -> str:
    return ('<p class="legend">' + "".join(f'<span class="c s-{s}" aria-hidden="true">{GLYPH[s]}</span>{s}: {MEANING[s]}'
                                            for s in STATUSES) + "</p>")


def _anchor(name: str) -> str:
    """An id for a node's section: hex of its (cleaned) name, so any name makes a valid, unique id."""
    return clean(name, 80).encode().hex()


def _node_details(report: Report) -> str:
    nodes, hidden = shown_nodes(report)
    parts = []
    for n in nodes:
        ns = score_node(n.checks)
        counts = ", ".join(f"{k} {s}" for s in STATUSES if (k := sum(1 for c in n.checks if c.status == s)))
        down = ' <span class="down">unreachable</span>' if not n.reachable else ""
        took = f" · {n.duration_s:.1f} s" if n.duration_s is not None else ""
        gaps = f" · gaps: {', '.join(ns.gaps)}" if ns.gaps else ""
        rows = "".join(
            f'<tr><td><code>{e(c.id, 80)}</code></td><td class="tag t-{c.status}">{GLYPH[c.status]} {c.status}</td>'
            f"<td>{e(measured_text(c), 80)}</td><td>{e(threshold_text(c), 80)}</td><td>{e(c.message, 1000)}</td>"
            f"<td>{e(c.remediation or '', 1000)}</td></tr>" for c in n.checks)
        parts.append(
            f'<details id="node-{_anchor(n.name)}"{" open" if len(nodes) == 1 else ""}><summary><strong>{e(n.name, 80)}</strong> '
            f'<span class="muted">{e(n.host, 260)}</span>{down} — score {ns.score:.0f}{gaps} — {counts}{took}</summary>'
            '<table class="list"><thead><tr><th>check</th><th>status</th><th>measured</th><th>threshold</th><th>message</th>'
            f"<th>what to do</th></tr></thead><tbody>{rows}</tbody></table></details>")
    note = f'<p class="muted">{hidden} more node(s) not shown; the JSON report has every node.</p>' if hidden else ""
    return f'<h2 id="nodes">Nodes</h2>{"".join(parts)}{note}'


# ---------------------------------------------------------------- network between nodes

def _bandwidth_floor(report: Report) -> float | None:
    for n in report.nodes:
        for c in n.checks:
            if c.id == "network.bandwidth" and isinstance(c.threshold, (int, float)) and not isinstance(c.threshold, bool):
                return float(c.threshold)
    return None


def _pair_class(p: PairMeasurement, floor: float | None) -> str:
    if p.bandwidth_gbps is None:
        return "bw-err"
    return "bw-low" if floor is not None and p.bandwidth_gbps < floor else "bw-ok"


def _pair_text(p: PairMeasurement) -> str:
    if p.bandwidth_gbps is None:
        return "✗ failed"
    return f"{p.bandwidth_gbps:.3g}" + ("" if p.latency_ms is None else f" / {p.latency_ms:.3g} ms")


def _pair_tip(p: PairMeasurement) -> str:
    bw = "—" if p.bandwidth_gbps is None else f"{p.bandwidth_gbps:.4g} Gbps"
    lat = "—" if p.latency_ms is None else f"{p.latency_ms:.4g} ms"
    return f"{p.client} → {p.server} ({p.tool or 'tool unknown'}): {bw}, latency {lat}" + (f"; {p.error}" if p.error else "")


def _pair_matrix(pairs: list[PairMeasurement], floor: float | None) -> str:
    names = list(dict.fromkeys([p.client for p in pairs] + [p.server for p in pairs]))
    cell = {(p.client, p.server): p for p in pairs}
    head = "".join(f"<th>{e(n, 40)}</th>" for n in names)
    rows = []
    for a in names:
        tds = []
        for b in names:
            p = cell.get((a, b))
            if p is None:
                tds.append('<td class="v bw-none"></td>')
            else:
                mark = "▼ " if _pair_class(p, floor) == "bw-low" else ""
                tds.append(f'<td class="v {_pair_class(p, floor)}" title="{e(_pair_tip(p), 600)}">{mark}{e(_pair_text(p), 40)}</td>')
        rows.append(f'<tr><th scope="row">{e(a, 40)}</th>{"".join(tds)}</tr>')
    return (f'<table class="mx" aria-label="bandwidth in Gbps, client (row) to server (column)"><thead><tr>'
            f'<th class="muted">client ↓ server →</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _slowest_pairs(pairs: list[PairMeasurement], floor: float | None) -> str:
    ranked = sorted(pairs, key=lambda p: (p.bandwidth_gbps is not None, p.bandwidth_gbps or 0.0))[:SLOWEST_PAIRS]
    rows = "".join(
        f'<tr class="{_pair_class(p, floor)}"><td>{e(p.client, 80)}</td><td>{e(p.server, 80)}</td><td>{e(_pair_text(p), 40)}</td>'
        f"<td>{e(p.tool or '', 20)}</td><td>{e(p.error or '', 300)}</td></tr>" for p in ranked)
    return (f"<p>{len(pairs)} pairs measured; the {len(ranked)} slowest (failed pairs first):</p>"
            '<table class="list"><thead><tr><th>client</th><th>server</th><th>Gbps / latency</th><th>tool</th><th>error</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>")


# The active fabric tests (validators/fabric: nccl-tests, DCGM diagnostics, RDMA bandwidth) report
# as checks of the `fabric` pillar; the id hints catch them wherever a profile files them.
COLLECTIVE_HINTS = ("nccl", "allreduce", "all_reduce", "dcgm", "rdma_bandwidth")


def collective(c: CheckResult) -> bool:
    return c.pillar == "fabric" or any(h in c.id for h in COLLECTIVE_HINTS)


def _network(report: Report) -> str:
    floor = _bandwidth_floor(report)
    pairs = report.pairs
    if pairs:
        names = {p.client for p in pairs} | {p.server for p in pairs}
        body = _pair_matrix(pairs, floor) if len(names) <= MAX_MATRIX else _slowest_pairs(pairs, floor)
        low = sum(1 for p in pairs if _pair_class(p, floor) == "bw-low")
        failed = sum(1 for p in pairs if p.bandwidth_gbps is None)
        rule = f"the profile's floor is {floor:g} Gbps" if floor is not None else "the profile sets no bandwidth floor"
        intro = (f"<p>Bandwidth (Gbps) and latency of each measured pair, client to server; {rule}: "
                 f"{low} pair(s) below it (▼), {failed} failed. A pair is as slow as its slower end: the node checks "
                 "name the node at fault (<code>network.bandwidth</code>).</p>")
    else:
        reason = next((c.message for n in report.nodes for c in n.checks if c.id == "network.bandwidth"), None)
        intro, body = f"<p>No pair was measured{': ' + e(reason, 300) if reason else ''}.</p>", ""
    fabric = [(n.name, c) for n in report.nodes for c in n.checks if collective(c)] + \
             [("fleet", c) for c in report.fleet if collective(c)]
    if fabric:
        rows = "".join(
            f'<tr><td>{e(node, 80)}</td><td><code>{e(c.id, 80)}</code></td><td class="tag t-{c.status}">{GLYPH[c.status]} {c.status}</td>'
            f"<td>{e(measured_text(c), 80)}</td><td>{e(threshold_text(c), 80)}</td><td>{e(c.message, 600)}</td></tr>"
            for node, c in sorted(fabric, key=lambda nc: SEVERITY[nc[1].status]))
        coll = ('<table class="list"><thead><tr><th>node</th><th>test</th><th>status</th><th>measured</th><th>threshold</th>'
                f"<th>message</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        coll = '<p class="muted">No collective or fabric test ran in this run (NCCL all-reduce, RDMA bandwidth, DCGM diagnostics).</p>'
    return f'<h2 id="network">Network between nodes</h2>{intro}{body}<h3>Collective and fabric tests</h3>{coll}'


# ---------------------------------------------------------------- the document

def _summary_bar(report: Report) -> str:
    """The status counts as one stacked bar (inline SVG; the numbers are beside it as text)."""
    s = report.summary
    counts = {"pass": s.passed, "warn": s.warnings, "fail": s.failed, "error": s.errors, "skip": s.skipped}
    total = sum(counts.values()) or 1
    x, rects = 0.0, []
    # the text colours, darker than the heatmap's: FAIL_RGB stays the heatmap's alone
    fill = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#a40e26", "error": "#6639ba", "skip": "#d0d7de"}
    for status, k in counts.items():
        if k:
            w = 400 * k / total
            rects.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="14" fill="{fill[status]}"><title>{k} {status}</title></rect>')
            x += w
    text = " · ".join(f'<span class="t-{st}">{k} {st}</span>' for st, k in counts.items())
    return f'<p><svg width="400" height="14" role="img" aria-label="results by status">{"".join(rects)}</svg><br>{text}</p>'


def _fleet_checks(report: Report) -> str:
    fleet = [c for c in report.fleet if not collective(c)]  # those are under "Network between nodes"
    if not fleet:
        return ""
    rows = "".join(
        f'<tr><td><code>{e(c.id, 80)}</code></td><td class="tag t-{c.status}">{GLYPH[c.status]} {c.status}</td>'
        f"<td>{e(measured_text(c), 80)}</td><td>{e(threshold_text(c), 80)}</td><td>{e(c.message, 1000)}</td>"
        f"<td>{e(c.remediation or '', 1000)}</td></tr>" for c in sorted(fleet, key=lambda c: SEVERITY[c.status]))
    return ('<h2 id="fleet">Across nodes</h2><table class="list"><thead><tr><th>check</th><th>status</th><th>measured</th>'
            f"<th>threshold</th><th>message</th><th>what to do</th></tr></thead><tbody>{rows}</tbody></table>")


def render(report: Report, title: str = "plinth") -> str:
    s = report.summary
    when = f" · started {e(report.started_at, 40)}" if report.started_at else ""
    took = f" · took {report.duration_s:.1f} s" if report.duration_s is not None else ""
    reachable = sum(1 for n in report.nodes if n.reachable)
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer"><meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{e(title, 80)} — {e(report.profile, 80)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(title, 80)} — <code>{e(report.profile, 80)}</code></h1>",
        f'<p class="meta">{s.nodes} node(s), {reachable} reachable{when}{took}</p>',
        f'<p class="verdict {_band_class(s.score)}">Readiness score {s.score:.0f}/100 — {verdict(s.score)}</p>',
        _summary_bar(report), _what_to_do(report), _heatmap(report), _network(report), _fleet_checks(report),
        _node_details(report), "</body></html>\n",
    ])


__all__ = ["CSP", "FAIL_RGB", "MAX_MATRIX", "MAX_ROWS", "actions", "render", "shown_nodes"]
