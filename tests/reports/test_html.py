"""The HTML report: self-contained (nothing fetched, a strict CSP that the browser honours), the
fleet heatmap with a non-colour cue, the pair matrix, "what to do first" ranked by impact, and every
string from a node shown as text — checked in the markup and in a real headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.reports.fleet_sample import HOSTILE, fleet_with_failures, healthy_fleet
from tests.support import chromium, png
from validators.reports import RENDERERS, html, write_reports
from validators.results import CheckResult, NodeReport, Report
from validators.runner import summarize

C = CheckResult.make


class Page(HTMLParser):
    """Tags, attributes and text of a document, as a browser's tokenizer sees them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.style = ""
        self._in_style = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def test_registered_like_the_other_renderers(tmp_path: Path) -> None:
    assert RENDERERS["html"] is html.render
    out = tmp_path / "r.html"
    assert write_reports(fleet_with_failures(), {"html": out}) == []
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert out.stat().st_mode & 0o777 == 0o644


def test_audit_writes_the_page_alone_on_stdout_with_o_html(tmp_path: Path) -> None:
    plinth = Path(sys.executable).with_name("plinth")
    if not plinth.exists():
        pytest.skip(f"{plinth} not installed (pip install -e .)")
    proc = subprocess.run([str(plinth), "audit", "--quick", "-o", "html"], capture_output=True, text=True, timeout=120,
                          check=False, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert proc.stdout.startswith("<!DOCTYPE html>") and proc.stdout.rstrip().endswith("</html>")
    assert "readiness score" in proc.stderr.lower()  # the console view moved to stderr


def test_self_contained_under_a_strict_content_security_policy() -> None:
    page = Page(html.render(fleet_with_failures()))
    csp = [a["content"] for a in page.named("meta") if (a.get("http-equiv") or "").lower() == "content-security-policy"]
    assert len(csp) == 1 and csp[0] is not None
    policy = dict(d.strip().split(" ", 1) for d in csp[0].split(";"))
    assert policy["default-src"] == "'none'" and policy["base-uri"] == "'none'" and policy["form-action"] == "'none'"
    assert "script-src" not in policy  # falls back to default-src 'none': no script runs at all
    # the one style sheet is allowed by its hash, so an injected style= or <style> would not apply
    digest = base64.b64encode(hashlib.sha256(page.style.encode()).digest()).decode()
    assert policy["style-src"] == f"'sha256-{digest}'"
    assert not page.named("script") and not page.named("link") and not page.named("img") and not page.named("iframe")
    for _tag, attrs in page.tags:
        assert "style" not in attrs  # inline style attributes would need 'unsafe-inline'
        for name in ("src", "href", "action", "srcset", "xlink:href"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), f"{name}={value!r} would leave the file"


def test_heatmap_has_a_cell_per_node_and_check_with_a_glyph_and_a_tooltip() -> None:
    report = fleet_with_failures()
    page = Page(html.render(report))
    cells = [a for a in page.named("td") if "c" in (a.get("class") or "").split()]
    assert len(cells) == sum(len(n.checks) for n in report.nodes)
    by_status = {s: [a for a in cells if f"s-{s}" in (a.get("class") or "")] for s in html.GLYPH}
    assert len(by_status["fail"]) == sum(1 for n in report.nodes for c in n.checks if c.status == "fail") == 5
    assert len(by_status["error"]) == 9  # the unreachable node: every check of the profile errors
    tip = next(a["title"] for a in by_status["fail"] if "network.mtu" in (a.get("title") or ""))
    assert tip is not None and "measured 1500 bytes, threshold 9000 bytes" in tip
    text = "".join(page.text)
    for status, glyph in html.GLYPH.items():  # the legend names each glyph: colour is not the only cue
        assert f"{glyph}{status}: {html.MEANING[status]}" in text


def test_what_to_do_first_is_ranked_by_impact() -> None:
    acts = html.actions(fleet_with_failures())
    order = [a.check_id for a in acts]
    assert order[0] == "unreachable" and acts[0].nodes == ["gpu-5"]
    # the all-reduce below its floor holds back every node: first among the fails
    assert order[1] == "fabric.nccl_allreduce"
    fails = [a.check_id for a in acts if a.status == "fail"]
    assert fails.index("network.bandwidth") < fails.index("gpu.count")  # 89% short before 12% short
    ranks = [html.SEVERITY[a.status] for a in acts[1:]]
    assert ranks == sorted(ranks)
    warn = next(a for a in acts if a.check_id == "storage.free_space")
    assert len(warn.nodes) == 5  # one action for the five nodes that share the remediation
    assert not html.actions(healthy_fleet())


def test_pair_matrix_marks_the_slow_and_failed_pairs() -> None:
    report = fleet_with_failures()
    page = Page(html.render(report))
    cells = {(a.get("title") or "").split(":")[0]: a for a in page.named("td") if "v" in (a.get("class") or "").split() and a.get("title")}
    assert "bw-low" in (cells["gpu-0 → gpu-1 (iperf3)"].get("class") or "")  # 9.6 Gbps under the 90 Gbps floor
    assert "bw-ok" in (cells["gpu-2 → gpu-3<b>x</b> (iperf3)"].get("class") or "")
    assert "bw-err" in (cells["gpu-4 → gpu-5 (iperf3)"].get("class") or "")
    text = "".join(page.text)
    assert "the profile's floor is 90 Gbps: 2 pair(s) below it (▼), 1 failed" in text
    assert "▼ 9.6 / 0.21 ms" in text


def test_collective_results_are_listed_under_the_network_wherever_a_profile_files_them() -> None:
    nodes = [NodeReport(name="a", host="h", reachable=True, checks=[
        C("gpu.nccl_allreduce_intranode", "warn", "busbw 221 GB/s, 95% of 232", measured=221, threshold=209, unit="GB/s"),
        C("network.rdma", "pass", "4 EFA devices")])]
    report = Report(summary=summarize(nodes, []), profile="p", nodes=nodes,
                    fleet=[C("fabric.dcgm_diag", "fail", "DCGM diag level 2: PCIe bandwidth test failed on GPU 3")])
    section = html.render(report).split('<h3>Collective and fabric tests</h3>')[1].split("<h2")[0]
    assert "gpu.nccl_allreduce_intranode" in section and "fabric.dcgm_diag" in section
    assert "network.rdma" not in section  # device presence, not a fabric test
    assert 'id="fleet"' not in html.render(report)  # the only cross-node result is listed with the collectives


def test_network_section_degrades_to_the_reason_when_nothing_was_measured() -> None:
    nodes = [NodeReport(name="a", host="h", reachable=True, checks=[
        C("network.bandwidth", "skip", "pairwise network tests not run (--quick)")])]
    text = "".join(Page(html.render(Report(summary=summarize(nodes, []), profile="p", nodes=nodes))).text)
    assert "No pair was measured: pairwise network tests not run (--quick)." in text
    assert "No collective or fabric test ran in this run" in text


def test_a_large_fleet_is_bounded_and_shows_the_nodes_that_need_attention_first() -> None:
    good = [C("gpu.count", "pass", "8 GPUs", measured=8, threshold=8, unit="GPUs")]
    nodes = [NodeReport(name=f"n{i:05d}", host="10.0.0.1", reachable=True, checks=good) for i in range(5000)]
    nodes[4321] = NodeReport(name="n04321", host="10.0.0.1", reachable=True, checks=[C("gpu.count", "fail", "7 GPUs", measured=7)])
    nodes[4999] = NodeReport(name="n04999", host="10.0.0.1", reachable=False, checks=[C("gpu.count", "error", "unreachable")])
    report = Report(summary=summarize(nodes, []), profile="p", nodes=nodes)
    shown, hidden = html.shown_nodes(report)
    assert [n.name for n in shown[:2]] == ["n04999", "n04321"] and hidden == 5000 - html.MAX_ROWS
    text = html.render(report)
    assert len(text) < 1_500_000  # ~300 bytes per node shown, not per node of the fleet
    assert f"{5000 - html.MAX_ROWS} more node(s) not shown" in text


def test_text_from_nodes_is_inert_and_escaped_in_the_markup() -> None:
    report = fleet_with_failures()
    doc = html.render(report)
    assert "<script" not in doc and "<img" not in doc and "<b>x" not in doc
    assert "&lt;script&gt;document.title=&quot;owned&quot;&lt;/script&gt;" in doc
    nasty = NodeReport(name="n", host="h", reachable=True, checks=[
        C("gpu.model", "fail", "x\x1b]0;t\x07\u202eevil\x00", measured="a\ud800b", remediation="</details></table>")])
    doc = html.render(Report(summary=summarize([nasty], []), profile='"><svg onload=alert(1)>', nodes=[nasty]))
    assert "\x1b" not in doc and "\u202e" not in doc and "\x00" not in doc and "\ud800" not in doc
    assert "&lt;/details&gt;&lt;/table&gt;" in doc and "<svg onload" not in doc
    doc.encode("utf-8")  # a lone surrogate would make this raise


# ---------------------------------------------------------------- in a real browser

def _bands(rows: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive y values: each is one horizontal band of the picture."""
    bands: list[tuple[int, int]] = []
    for y in rows:
        if bands and y == bands[-1][1] + 1:
            bands[-1] = (bands[-1][0], y)
        else:
            bands.append((y, y))
    return bands


@pytest.mark.usefixtures("chromium_browser")
def test_chromium_renders_the_heatmap_in_colour_and_the_escaping_holds(tmp_path: Path) -> None:
    report = fleet_with_failures()
    page = tmp_path / "report.html"
    page.write_text(html.render(report))

    image = png.decode(chromium.screenshot(page, tmp_path / "shot.png", width=1200, height=1400))
    assert (image.width, image.height) == (1200, 1400)
    # The fail colour appears only in the heatmap's cells and its legend. Were the style sheet
    # blocked (a wrong CSP hash) there would be none; in the picture it makes one band for the
    # legend, then one band per heatmap row with a failure (gpu-1, gpu-2, gpu-3), top to bottom.
    bands = _bands(image.rows_with(html.FAIL_RGB))
    failing_rows = [n for n in report.nodes if any(c.status == "fail" for c in n.checks)]
    assert len(bands) == 1 + len(failing_rows) == 4, bands
    _legend, *rows = bands
    assert all(20 <= bottom - top + 1 <= 28 for top, bottom in rows), rows  # a cell: 22 px and its padding
    steps = [b[0] - a[0] for a, b in itertools.pairwise(rows)]
    assert all(22 <= s <= 30 for s in steps) and max(steps) - min(steps) <= 1, steps  # adjacent rows of one table
    per_cell = image.count(html.FAIL_RGB) / (5 + 1)  # five fail cells and the legend's swatch
    assert 300 <= per_cell <= 700, per_cell  # about 26 x 25 px each, less the white glyph
    # the unreachable node's row: error-coloured cells, below the failing rows
    error_bands = _bands(image.rows_with((0x82, 0x50, 0xDF)))
    assert error_bands[-1][0] > rows[-1][1]

    dom = chromium.dump_dom(page)
    parsed = Page(dom)
    assert not parsed.named("script") and not parsed.named("img") and not parsed.named("b")
    text = "".join(parsed.text)
    assert HOSTILE in text  # shown as the text the node sent
    assert "gpu-3<b>x</b>" in text
    titles = re.findall(r"<title>(.*?)</title>", dom)
    assert titles[0] == "plinth — distributed_training"  # the node's script never ran
